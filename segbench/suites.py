"""Suites: a whole benchmark described in one TOML file, checked before anything runs.

A suite's sections are those of :class:`segbench.spec.BenchmarkSpec`, each
key one of its fields (their help texts are the reference)::

    [suite]    name, description
    [grid]     encoders, decoders, models, sizes, batch_sizes, precisions, devices, num_classes, ...
    [data]     dataset, root, train_split, val_split, eval_split, options   (absent: costs only)
    [train]    iterations | epochs | time_budget, batch_size, optimizer, lr, loss, label_smoothing, seeds, ...
    [measure]  warmup_iters, min_iters, min_time
    [inference] tta_scales, flip, crf, crf_iterations, mc_samples, attention_scales   (absent: plain model;
               several [[inference]] tables: every cell once per variant, an empty one being the plain model)
    [compare]  baseline, latency_factor, memory_ratio, miou_drop, latency_gate, ...
    [execution] executor, timeout, ray_address, max_retries, concurrency   (command-line options win)

Any mistake (a TOML syntax error, an unknown section or key, a wrong type, an
unknown encoder) is one line naming the file, the key and, where it can be
found, the line.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segbench.config import CellConfig, model_label
from segbench.executors import EXECUTORS
from segbench.inputs import read_text
from segbench.spec import BenchmarkSpec, SpecError, spec_from_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"


class SuiteError(ValueError):
    """A malformed suite; ``str()`` is one line naming the file, the key and the line."""


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    cells: list[CellConfig]
    spec: BenchmarkSpec = field(default_factory=BenchmarkSpec)

    @property
    def compare(self) -> dict[str, Any]:
        """The [compare] table as the suite gave it."""
        return self.spec.compare.given()

    @property
    def execution(self) -> dict[str, Any]:
        """The [execution] table as the suite gave it (command-line options win over it)."""
        given = self.spec.execution
        return {k: v for k, v in vars(given).items() if v is not None}

    def select(self, include: list[str] | None = None, exclude: list[str] | None = None) -> list[CellConfig]:
        """Cells whose id or model label (``encoder+decoder``, or a whole network's name) matches any
        ``include`` glob and no ``exclude`` glob."""

        def matches(cell: CellConfig, patterns: list[str]) -> bool:
            names = (cell.cell_id, model_label(cell.encoder, cell.decoder))
            return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)

        return [
            c for c in self.cells
            if (not include or matches(c, include)) and not (exclude and matches(c, exclude))
        ]


def resolve_suite_path(name_or_path: str) -> Path:
    """``smoke`` means suites/smoke.toml (here, else in the checkout); a suffix or a slash means a path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and "/" not in name_or_path:
        local = Path("suites") / f"{name_or_path}.toml"
        path = local if local.is_file() else SUITES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.toml")))
        raise SuiteError(f"suite '{name_or_path}' not found at {path}; shipped suites: {known}")
    return path


def _line_of(text: str, section: str, key: str | None = None) -> int | None:
    """The line of ``[section]`` (or of ``key =`` inside it) in the TOML text, 1-based."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[\[?([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            if key is None and current == section:
                return number
        elif current == section and key is not None and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _located(error: SpecError, text: str, path: Path) -> SuiteError:
    """``<path>: [section] key: message (line N)``."""
    line = _line_of(text, error.section, error.key)
    if line is None and error.key is not None:
        line = _line_of(text, error.section)
    where = f"[{error.section}]" + (f" {error.key}" if error.key else "")
    return SuiteError(f"{path}: {where}: {error}" + (f" (line {line})" if line else ""))


def load_suite(name_or_path: str) -> Suite:
    """Parse, validate and expand a suite into its cells; raises :class:`SuiteError` on any mistake."""
    path = resolve_suite_path(name_or_path)
    text = read_text(path, "suite")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{path}: not valid TOML: {e}") from None
    try:
        spec = spec_from_toml(raw)
        executor = spec.execution.executor
        if executor is not None and executor not in EXECUTORS:
            raise SpecError(f"unknown executor '{executor}'; valid: {', '.join(EXECUTORS)}", "execution", "executor")
        cells = spec.cells()
    except SpecError as e:
        raise _located(e, text, path) from None
    if not cells:
        raise SuiteError(f"{path}: the suite has no cell")
    return Suite(name=spec.suite.name or path.stem, path=path, description=spec.suite.description, cells=cells,
                 spec=spec)
