"""Compare a run against a baseline: the CI regression gate.

Cells are matched on their key columns, then each matched cell is checked
metric by metric, in the spirit of asv's ``compare``: a model's size (params,
GFLOPs) must not move at all, latency must be both slower by a factor *and*
significantly slower on independent samples, the medians of the cells' latency
rounds (timings are noisy; a factor alone flags noise, a test alone flags 1%
drifts), memory and mIoU have tolerances. A cell whose rounds spread widely is
too noisy to compare, and says so.
Timings and memory taken on another device model or torch version say
nothing about the code, so they are ``not_comparable``, never regressions.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.text import Text

from segbench.display import Col, FittedTable, cell_labels
from segbench.outputs import prepare_dir, writing
from segbench.results import COLUMNS as COLUMNS_DESCRIBED
from segbench.results import KEY_COLUMNS, column, key_value
from segbench.rundir import RunDir, hardware

OK = "ok"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
NOT_COMPARABLE = "not_comparable"
INFO = "info"
VERDICTS = (OK, REGRESSION, IMPROVEMENT, NOT_COMPARABLE, INFO)

#: Relative tolerance on GFLOPs: float noise of the JSON round trip, nothing more.
GFLOPS_RTOL = 1e-9


# --------------------------------------------------------------------------- statistics


#: Largest sample size a side for the exact Mann-Whitney distribution (its table has n1 * n2 + 1 entries).
EXACT_MAX_N = 50


def exact_u_tail(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under the null, for samples of ``n1`` and ``n2`` without ties.

    Counts the orderings of the two samples by their U: the number of ways
    f(n1, n2, k) obeys f(n1, n2, k) = f(n1 - 1, n2, k - n2) + f(n1, n2 - 1, k)
    (the largest value belongs to x, beating all n2 values of y, or to y).
    """
    # ways[j][k]: orderings of i x-values and j y-values with U = k, for the current i
    ways = [[1] + [0] * (n1 * n2) for _ in range(n2 + 1)]  # i = 0: U is 0, one way
    for _ in range(1, n1 + 1):
        new = [[0] * (n1 * n2 + 1) for _ in range(n2 + 1)]
        for j in range(n2 + 1):
            for k in range(n1 * n2 + 1):
                from_x = ways[j][k - j] if k >= j else 0  # the largest is an x: it beats all j y-values
                from_y = new[j - 1][k] if j > 0 else 0  # the largest is a y
                new[j][k] = from_x + from_y
        ways = new
    counts = ways[n2]
    return sum(counts[u:]) / sum(counts)


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """One-sided Mann-Whitney U test that ``x`` tends to be larger than ``y``.

    Returns (U of x, p-value). Up to :data:`EXACT_MAX_N` samples a side and
    without ties, p is exact (as scipy's ``method="exact"``); otherwise it is
    the normal approximation with tie and continuity corrections (scipy's
    ``method="asymptotic"``), which is off for small samples (5 vs 5 without
    overlap: 0.0061 against the exact 0.0040). Rank-based, so a few outliers
    in a timing do not decide it. With no spread at all there is no evidence: p = 1.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = len(xs), len(ys)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one sample on each side")
    values = np.concatenate([xs, ys])
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)  # average (1-based) rank of each tie group
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    if (counts == 1).all() and max(n1, n2) <= EXACT_MAX_N:  # small and untied: the exact distribution
        return u, exact_u_tail(round(u), n1, n2)
    ties = float((counts**3 - counts).sum())
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return u, 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    return u, 0.5 * math.erfc(z / math.sqrt(2))


# --------------------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Tolerances:
    """How far a current run may drift from its baseline before the gate fails."""

    #: Latency regression: median slower by more than this factor (and significant).
    latency_factor: float = 1.10
    #: Significance level of the one-sided Mann-Whitney U test on the latency round medians.
    alpha: float = 0.01
    #: Peak-memory regression: current / baseline above this ratio.
    memory_ratio: float = 1.10
    #: ... and more than this many MiB above it (allocator granularity, RSS noise of small models).
    memory_slack_mib: float = 0.0
    #: mIoU regression: a drop of more than this many points (0-100 scale).
    miou_drop: float = 1.0
    #: False makes latency findings informational (shared CPU runners drift).
    latency_gate: bool = True
    #: False makes memory findings informational (CPU resident-set peaks are noisy).
    memory_gate: bool = True
    #: A cell of the baseline missing from the current run is a regression (a partial run must not pass);
    #: false for a suite whose runs are subsets on purpose.
    fail_on_removed: bool = True
    #: Latency IQR / median across rounds (across timed iterations for a run without rounds) above which a
    #: side's timing is too noisy to compare: "not comparable", shown with its spread, never a regression
    #: (0.1: where README's measurement conventions call a timing noisy).
    noisy_iqr: float = 0.1

    def __post_init__(self) -> None:
        if self.latency_factor < 1 or self.memory_ratio < 1:
            raise ValueError("latency_factor and memory_ratio are ratios current/baseline, at least 1")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {self.alpha}")
        if self.memory_slack_mib < 0:
            raise ValueError(f"memory_slack_mib must be at least 0, not {self.memory_slack_mib}")
        if self.noisy_iqr <= 0:
            raise ValueError(f"noisy_iqr is a spread (IQR / median) above 0, not {self.noisy_iqr}")
        if self.miou_drop < 0:
            raise ValueError(f"miou_drop is a number of points, at least 0, not {self.miou_drop}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Tolerances:
        """From a suite's ``[compare]`` table; ``latency-factor`` and ``latency_factor`` both work."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for raw_key, value in mapping.items():
            key = raw_key.replace("-", "_")
            if key not in types:
                raise ValueError(f"unknown [compare] key '{raw_key}'; valid keys: {', '.join(types)}")
            wants_bool = types[key] in (bool, "bool")
            if wants_bool != isinstance(value, bool) or not isinstance(value, (int, float)):
                kind = "true or false" if wants_bool else "a number"
                raise ValueError(f"[compare] {raw_key} must be {kind}, not {value!r}")
            values[key] = value if wants_bool else float(value)
        return cls(**values)

    def describe(self) -> str:
        latency = f"latency x{self.latency_factor:g} at alpha {self.alpha:g}"
        return ", ".join([
            latency if self.latency_gate else f"{latency} (informational)",
            f"memory x{self.memory_ratio:g}"
            + (f" and +{self.memory_slack_mib:g} MiB" if self.memory_slack_mib else "")
            + ("" if self.memory_gate else " (informational)"),
            f"mIoU -{self.miou_drop:g} points",
            "params and GFLOPs exact",
        ])


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One check of one matched cell."""

    cell: str
    metric: str
    baseline: Any
    current: Any
    verdict: str
    message: str
    key: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class Comparison:
    """Every finding of a baseline/current comparison, and the cells only one side has."""

    baseline: str
    current: str
    tolerances: Tolerances
    findings: list[Finding] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == REGRESSION]

    @property
    def matched(self) -> int:
        """How many cells the two runs have in common (each matched cell has one ``status`` finding)."""
        return sum(f.metric == "status" for f in self.findings)

    @property
    def ok(self) -> bool:
        """True when the gate passes: at least one cell was compared, and no finding is a regression.

        Two runs with no cell in common prove nothing, so they do not pass.
        """
        return self.matched > 0 and not self.regressions

    def by_verdict(self, verdict: str) -> list[Finding]:
        return [f for f in self.findings if f.verdict == verdict]

    def headline(self) -> str:
        if not self.matched:
            return "Nothing compared: no cell of the current run matches a baseline cell on the key columns"
        n = len(self.regressions)
        return "No regressions" if n == 0 else f"{n} regression{'s' if n > 1 else ''}"

    def to_frame(self) -> pd.DataFrame:
        """One row per finding; the cell's key columns are columns too, for filtering."""
        rows = [
            {**f.key, "cell": f.cell, "metric": f.metric, "baseline": f.baseline, "current": f.current,
             "verdict": f.verdict, "message": f.message}
            for f in self.findings
        ]
        keys = [c for c in KEY_COLUMNS if any(c in f.key for f in self.findings)]
        columns = [*keys, "cell", "metric", "baseline", "current", "verdict", "message"]
        return pd.DataFrame(rows, columns=columns)

    def to_markdown(self) -> str:
        """A summary for a CI comment: headline, regressions, then everything else worth a look."""
        lines = [
            f"## segbench compare: {self.headline()}",
            "",
            (f"Baseline `{self.baseline}`, current `{self.current}`: {len(self.findings)} checks on "
             f"{self.matched} matched cells; {self.tolerances.describe()}."),
        ]
        lines += [f"> {note}" for note in self.notes]
        sections = [
            ("Regressions", self.regressions),
            ("Not comparable", self.by_verdict(NOT_COMPARABLE)),
            ("Improvements", self.by_verdict(IMPROVEMENT)),
            ("Info", self.by_verdict(INFO)),
        ]
        for title, found in sections:
            if found:
                lines += ["", f"### {title} ({len(found)})", "", *_markdown_findings(found)]
        for title, cells in [("Added cells", self.added), ("Removed cells", self.removed)]:
            if cells:
                lines += ["", f"### {title} ({len(cells)})", "", *(f"- `{c}`" for c in cells)]
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown_findings(found: list[Finding]) -> list[str]:
    rows = ["| cell | metric | baseline | current | change | |", "|---|---|--:|--:|--:|---|"]
    for f in found:
        values = [format_value(f.metric, f.baseline), format_value(f.metric, f.current),
                  change(f.metric, f.baseline, f.current)]
        cells = [f"`{f.cell}`", f.metric, *values, _md(f.message)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_value(metric: str, value: Any) -> str:
    """A metric's value in its column's unit; params and GFLOPs in full, as they are checked exactly."""
    if _missing(value):
        return "-"
    if isinstance(value, str):
        return value
    if metric == "params":
        return f"{int(value):,}"
    if metric in ("gflops", "gmacs", "gmacs_encoder", "gmacs_decoder"):
        return f"{value:.4g}"
    spec = column(metric)
    if spec.unit == "%":  # points, to the precision a tolerance in points needs
        return f"{value:.2f}"
    if spec.name not in COLUMNS_DESCRIBED:
        return str(value)
    return f"{spec.display(value):.{spec.decimals}f} {spec.unit}".rstrip()


def change(metric: str, baseline: Any, current: Any) -> str:
    """The change as the check sees it: a ratio for timings and memory, a difference otherwise."""
    if _missing(baseline) or _missing(current) or isinstance(baseline, str) or isinstance(current, str):
        return ""
    if metric.startswith("latency") or metric == "peak_mem_mib":
        return f"x{current / baseline:.2f}" if baseline > 0 else ""
    if metric == "params":
        return f"{int(current) - int(baseline):+,}"
    if metric == "gflops":
        return f"{(current - baseline) / baseline:+.2%}" if baseline else ""
    if metric == "miou":
        return f"{current - baseline:+.2f} pts"
    return ""


# --------------------------------------------------------------------------- loading a side


@dataclass
class _Run:
    """One side of a comparison: its table, raw samples and round medians where it has them, its environment."""

    path: Path
    table: pd.DataFrame
    samples: dict[tuple, list[float]] | None
    environment: dict[str, Any] | None
    rounds: dict[tuple, list[float]] = field(default_factory=dict)


#: Key columns every segbench table has had; a table.csv without them is not one (newer keys may be absent).
CORE_KEY_COLUMNS = ("encoder", "decoder", "input_h", "input_w", "batch_size", "precision", "device")


def _load_run(path: Path | str) -> _Run:
    """One side, refused in one line if it holds no cell or its table lacks the key columns."""
    run = _read_run(Path(path))
    if run.table.empty:
        raise ValueError(f"{path} holds no cell: nothing to compare")
    missing = [c for c in CORE_KEY_COLUMNS if c not in run.table.columns]
    if missing:
        raise ValueError(f"{path} lacks the key column(s) {', '.join(missing)}: not a segbench table, "
                         "nothing to compare")
    return run


def _read_run(path: Path) -> _Run:
    if not path.exists():
        raise FileNotFoundError(f"no run at {path}")
    run = RunDir(path)
    env = run.environment()
    if run.has_records():
        records = run.records()  # the source of truth: carries the raw latency samples and round medians
        samples = {_key(r, KEY_COLUMNS): r.get("latency_samples_ms") or [] for r in records}
        rounds = {_key(r, KEY_COLUMNS): r.get("latency_round_ms") or [] for r in records}
        return _Run(path, run.frame(), samples, env, rounds)
    return _Run(path, run.frame(), None, env)


def _key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple:
    return tuple(key_value(row.get(c)) for c in columns)


def _cell_label(row: Mapping[str, Any]) -> str:
    if isinstance(row.get("cell_id"), str):
        return row["cell_id"]
    return "__".join(str(key_value(row.get(c))) for c in KEY_COLUMNS if key_value(row.get(c)) is not None)


def _index(run: _Run, columns: Sequence[str]) -> dict[tuple, dict[str, Any]]:
    rows: dict[tuple, dict[str, Any]] = {}
    for record in run.table.to_dict("records"):
        row = {str(name): value for name, value in record.items()}  # a table's column names are strings
        key = _key(row, columns)
        if key in rows:
            raise ValueError(
                f"two cells of {run.path} share the key {dict(zip(columns, key, strict=True))}; "
                "compare runs with one cell per key (or ignore fewer key columns)"
            )
        rows[key] = row
    return rows


def _comparability(base: _Run, cur: _Run, device: Any) -> str | None:
    """Why timings of this cell cannot be compared across the two runs (None: they can)."""
    if base.environment is None or cur.environment is None:
        return None
    (a, isa_a), (b, isa_b) = hardware(base.environment, device), hardware(cur.environment, device)
    if a != b:
        return f"measured on {a} vs {b}"
    if isa_a and isa_b and isa_a != isa_b:  # a run from before the ISA was recorded: unknown, not a difference
        return f"measured with {isa_a} vs {isa_b} kernels on {a}"
    ta, tb = base.environment.get("torch"), cur.environment.get("torch")
    if ta != tb:
        return f"torch {ta} vs {tb}"
    return None


# --------------------------------------------------------------------------- checks

#: A check's outcome: (verdict, message).
Outcome = tuple[str, str]


def _check_status(b: Mapping[str, Any], c: Mapping[str, Any]) -> Outcome:
    b_ok, c_ok = b.get("status") == "ok", c.get("status") == "ok"
    error = c.get("error") or c.get("status")
    if b_ok and c_ok:
        return OK, "ok in both"
    if b_ok:
        return REGRESSION, f"newly failing: {error}"
    if c_ok:
        return IMPROVEMENT, f"fixed (was: {b.get('error') or b.get('status')})"
    return INFO, f"failing in both: {error}"


def _check_exact(metric: str, b: float, c: float) -> Outcome:
    """Model size must not move: a model change has to update the baseline on purpose."""
    same = b == c if metric == "params" else math.isclose(b, c, rel_tol=GFLOPS_RTOL, abs_tol=0.0)
    if same:
        return OK, "unchanged"
    return REGRESSION, "model changed; if on purpose, update the baseline"


@dataclass(frozen=True)
class _Evidence:
    """What a cell's latency is tested on: the round medians of both sides where both have them."""

    #: (baseline, current) samples; None where a side has none (a bare table.csv): the factor test alone.
    samples: tuple[list[float], list[float]] | None
    #: What one sample is, for the messages: "rounds", or "samples" (timed iterations, a run without rounds).
    unit: str
    #: The column holding each side's spread, which ``noisy_iqr`` is held against.
    spread: str


def _evidence(b: Mapping[str, Any], c: Mapping[str, Any], base: _Run, cur: _Run) -> _Evidence:
    """The round medians where both sides have them; else (a run from before rounds) the timed iterations."""
    kb, kc = _key(b, KEY_COLUMNS), _key(c, KEY_COLUMNS)
    rounds = (base.rounds.get(kb), cur.rounds.get(kc))
    if rounds[0] and rounds[1]:
        return _Evidence((rounds[0], rounds[1]), "rounds", "latency_round_iqr_rel")
    both_rounds = not (_missing(b.get("latency_round_iqr_rel")) or _missing(c.get("latency_round_iqr_rel")))
    if base.samples is None or cur.samples is None:  # a bare table: the spread it has, no samples
        return _Evidence(None, "rounds", "latency_round_iqr_rel" if both_rounds else "latency_iqr_rel")
    raw = (base.samples.get(kb), cur.samples.get(kc))
    return _Evidence((raw[0], raw[1]) if raw[0] and raw[1] else None, "samples", "latency_iqr_rel")


def smallest_p(n1: int, n2: int) -> float:
    """The smallest one-sided p the exact Mann-Whitney test can give ``n1`` vs ``n2`` samples: 1 / C(n1+n2, n1)."""
    return 1 / math.comb(n1 + n2, n1)


def _check_latency(b: float, c: float, evidence: _Evidence, tol: Tolerances) -> Outcome:
    """Slower by the factor *and* significantly so on the round medians (the factor alone without samples)."""
    ratio = c / b
    slower, faster = ratio > tol.latency_factor, ratio < 1 / tol.latency_factor
    if not (slower or faster):
        return OK, f"x{ratio:.2f}, within x{tol.latency_factor:g}"
    if evidence.samples is None:
        return (REGRESSION if slower else IMPROVEMENT), f"x{ratio:.2f} (no raw samples: factor test only)"
    base_s, cur_s = evidence.samples
    word = "slower" if slower else "faster"
    n = f"{len(base_s)} vs {len(cur_s)} {evidence.unit}"
    if smallest_p(len(base_s), len(cur_s)) >= tol.alpha:
        return NOT_COMPARABLE, (f"x{ratio:.2f} {word}, but {n} cannot reach p < {tol.alpha:g}: "
                                "time more rounds (--rounds 5 can)")
    _, p = mann_whitney_u(cur_s, base_s) if slower else mann_whitney_u(base_s, cur_s)
    if p < tol.alpha:
        return (REGRESSION if slower else IMPROVEMENT), f"x{ratio:.2f} {word}, significant (p={p:.2g}, {n})"
    return OK, f"x{ratio:.2f} {word} but not significant (p={p:.2g} >= {tol.alpha:g}, {n})"


def _noisy(b: Mapping[str, Any], c: Mapping[str, Any], evidence: _Evidence, tol: Tolerances) -> str | None:
    """Why a cell's latency is too noisy to compare (each side's spread named), or None."""
    spreads = {side: row.get(evidence.spread) for side, row in (("baseline", b), ("current", c))}
    over = {side: float(v) for side, v in spreads.items() if v is not None and not _missing(v)}
    over = {side: v for side, v in over.items() if v > tol.noisy_iqr}
    if not over:
        return None
    shown = ", ".join(f"{side} {v:.2f}" for side, v in over.items())
    across = " across rounds" if evidence.spread == "latency_round_iqr_rel" else ""
    return f"noisy, not comparable: latency IQR / median{across} {shown} above {tol.noisy_iqr:g}"


def _check_memory(b: float, c: float, tol: Tolerances) -> Outcome:
    if c > b * tol.memory_ratio and c - b > tol.memory_slack_mib:
        return REGRESSION, f"above x{tol.memory_ratio:g} of the baseline"
    if b > c * tol.memory_ratio and b - c > tol.memory_slack_mib:
        return IMPROVEMENT, f"below 1/{tol.memory_ratio:g} of the baseline"
    return OK, f"within x{tol.memory_ratio:g}"


def _check_miou(b: float, c: float, tol: Tolerances) -> Outcome:
    if c < b - tol.miou_drop:
        return REGRESSION, f"dropped more than {tol.miou_drop:g} points"
    if c > b + tol.miou_drop:
        return IMPROVEMENT, f"rose more than {tol.miou_drop:g} points"
    return OK, f"within {tol.miou_drop:g} points"


def _informational(outcome: Outcome, gate: bool, name: str) -> Outcome:
    verdict, message = outcome
    if gate or verdict not in (REGRESSION, IMPROVEMENT):
        return outcome
    return INFO, f"{message} ({name} gate off)"


def _check_cell(
    b: Mapping[str, Any], c: Mapping[str, Any], base: _Run, cur: _Run, tol: Tolerances
) -> Iterator[tuple[str, Outcome]]:
    """(metric, outcome) for each check of one matched cell; measurements only where both ran."""
    yield "status", _check_status(b, c)
    if not (b.get("status") == "ok" and c.get("status") == "ok"):
        return
    for metric in ("params", "gflops"):
        if not (_missing(b[metric]) and _missing(c[metric])):
            yield metric, _check_exact(metric, b[metric], c[metric])

    why_not = _comparability(base, cur, b.get("device"))
    metric = "latency_ms_median"
    if not (_missing(b[metric]) or _missing(c[metric])):
        if why_not:
            yield metric, (NOT_COMPARABLE, f"timings not comparable: {why_not}")
        else:
            evidence = _evidence(b, c, base, cur)
            noisy = _noisy(b, c, evidence, tol)
            if noisy:
                yield metric, (NOT_COMPARABLE, noisy)
            else:
                outcome = _check_latency(b[metric], c[metric], evidence, tol)
                yield metric, _informational(outcome, tol.latency_gate, "latency")

    metric = "peak_mem_mib"
    if not (_missing(b[metric]) or _missing(c[metric])):
        if b.get("mem_method") != c.get("mem_method"):
            why_not = why_not or f"memory method {b.get('mem_method')} vs {c.get('mem_method')}"
        if why_not:
            yield metric, (NOT_COMPARABLE, f"memory not comparable: {why_not}")
        else:
            yield metric, _informational(_check_memory(b[metric], c[metric], tol), tol.memory_gate, "memory")

    metric = "miou"
    if _missing(b[metric]) != _missing(c[metric]):
        yield metric, (INFO, "mIoU measured on one side only")
    elif not _missing(b[metric]):
        yield metric, _check_miou(b[metric], c[metric], tol)


def compare_runs(
    baseline: Path | str,
    current: Path | str,
    tolerances: Tolerances | None = None,
    ignore_keys: Sequence[str] = (),
) -> Comparison:
    """Check ``current`` against ``baseline`` (run directories or table.csv files).

    ``ignore_keys`` leaves key columns out of the matching, e.g. ``["seed"]`` to
    hold a retrained model to a baseline trained with another seed.
    """
    tol = tolerances or Tolerances()
    unknown = [k for k in ignore_keys if k not in KEY_COLUMNS]
    if unknown:
        raise ValueError(f"unknown key column(s) {', '.join(unknown)}; valid: {', '.join(KEY_COLUMNS)}")
    columns = [c for c in KEY_COLUMNS if c not in ignore_keys]
    base, cur = _load_run(baseline), _load_run(current)
    base_rows, cur_rows = _index(base, columns), _index(cur, columns)
    comparison = Comparison(str(baseline), str(current), tol)
    if base.samples is None or cur.samples is None:
        comparison.notes.append("A table.csv holds no raw samples: latency uses the factor test only.")
    if base.environment is None or cur.environment is None:
        comparison.notes.append("A side has no run.json: device and torch version could not be checked.")

    for key, b in base_rows.items():
        where = dict(zip(columns, key, strict=True))
        c = cur_rows.get(key)
        if c is None:
            comparison.removed.append(_cell_label(b))
            if tol.fail_on_removed:
                comparison.findings.append(Finding(_cell_label(b), "cell", "present", "missing", REGRESSION,
                                                   "cell missing from the current run", where))
            continue
        for metric, (verdict, message) in _check_cell(b, c, base, cur, tol):
            before, after = key_value(b.get(metric)), key_value(c.get(metric))
            finding = Finding(_cell_label(c), metric, before, after, verdict, message, where)
            comparison.findings.append(finding)
    comparison.added = [_cell_label(c) for key, c in cur_rows.items() if key not in base_rows]
    return comparison


# --------------------------------------------------------------------------- baseline update


def update_baseline(current: Path | str, baseline_dir: Path | str) -> Path:
    """Make ``current`` the new baseline: run.json, cells/*.json and table.csv, no checkpoints.

    The copy is built in a temporary folder beside the baseline and renamed into
    place, so a reader (or an interrupted update) never sees a half-written baseline.
    """
    src, dst = Path(current), Path(baseline_dir)
    if not (src.is_dir() and RunDir(src).has_records()):
        raise FileNotFoundError(f"{src} is not a run directory with cells/")
    if dst.resolve() == src.resolve():
        raise ValueError(f"{src} is already the baseline")
    prepare_dir(dst.parent)
    with writing(dst):
        return _replace_baseline(src, dst)


def _replace_baseline(src: Path, dst: Path) -> Path:
    """Build the new baseline beside ``dst`` and swap it in; on any failure, ``dst`` is as it was."""
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.new-"))
    old: Path | None = None
    try:
        source, copy = RunDir(src), RunDir(tmp)
        copy.cells_dir.mkdir()
        for record in source.records():  # upgraded to the current schema on the way
            copy.write_record(record)
        if source.run_json.is_file():
            shutil.copy2(source.run_json, copy.run_json)
        copy.write_table()  # rebuilt from the records, the source of truth
        if dst.exists():
            old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.old-"))
            os.replace(dst, old / dst.name)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not dst.exists():
            os.replace(old / dst.name, dst)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dst


# --------------------------------------------------------------------------- terminal


_STYLE = {REGRESSION: "red", IMPROVEMENT: "green", NOT_COMPARABLE: "yellow", INFO: "blue", OK: "dim"}


def comparison_table(comparison: Comparison, show_ok: bool = False) -> FittedTable:
    """The findings worth a look, regressions first, as a table that fits the console.

    Cells are named by their short labels (see :func:`segbench.display.cell_labels`); the verdict and
    its reason share a column that folds, so neither is ever left out.
    """
    order = {v: i for i, v in enumerate((REGRESSION, NOT_COMPARABLE, IMPROVEMENT, INFO, OK))}
    shown = [f for f in comparison.findings if show_ok or f.verdict != OK]
    shown.sort(key=lambda f: order[f.verdict])
    caption = ", ".join(
        [f"{len(comparison.added)} added", f"{len(comparison.removed)} removed"]
        + [f"{sum(f.verdict == v for f in comparison.findings)} {v}" for v in VERDICTS]
    )
    style = "bold green" if comparison.ok else "bold red"
    cells = {f.cell: f.key for f in shown}
    labelled = [c for c, key in cells.items() if "encoder" in key and "decoder" in key]  # else: by cell id
    labels = {c: c for c in cells} | dict(zip(labelled, cell_labels([cells[c] for c in labelled]), strict=True))
    columns = [Col("cell", justify="left"), Col("metric", justify="left", drop=4), Col("baseline", drop=1),
               Col("current", drop=2), Col("change", drop=3), Col("verdict", justify="left", fold=True)]
    rows: list[list[Text | str]] = [
        [labels[f.cell], f.metric, format_value(f.metric, f.baseline), format_value(f.metric, f.current),
         change(f.metric, f.baseline, f.current),
         Text.assemble((f.verdict, _STYLE[f.verdict]), f": {f.message}" if f.message else "")]
        for f in shown
    ]
    return FittedTable(columns, rows, title=Text(comparison.headline(), style=style), caption=caption)
