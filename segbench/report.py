"""``segbench report``: one self-contained HTML page of one or several runs.

The page holds the environment of each run (run.json), the paper tables (the
HTML of :mod:`segbench.tables`, so every number is the one ``segbench table``
prints), every figure ``segbench plot`` makes (PNG as base64 data URIs), the
gate's verdict against a baseline (:func:`segbench.compare.compare_runs`) and
each cell's record behind a ``<details>``. Nothing is fetched when it is
opened: the style is inline, there is no script, and a Content-Security-Policy
forbids any other source, so the file can be mailed, archived or attached to
a CI job as it is. Every user-provided string (paths, cell ids, error
messages, environment values) is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from segbench import __version__
from segbench.compare import (
    IMPROVEMENT,
    INFO,
    NOT_COMPARABLE,
    OK,
    REGRESSION,
    Comparison,
    Tolerances,
    change,
    compare_runs,
    format_value,
)
from segbench.outputs import OutputPathError, describe, write_text_atomic
from segbench.rundir import RunDir
from segbench.tables import load_runs, long_table, metric_style, pivot_table, render, render_long

#: The long table's columns, each shown where some cell has a value for it.
LONG_COLUMNS = ("params", "gflops", "latency_ms_median", "throughput_img_s", "peak_mem_mib", "miou")
#: One encoder x decoder pivot per metric, where some cell has it.
PIVOT_METRICS = ("miou", "gflops", "latency_ms_median")
#: Findings shown in the gate's table, worst first (``ok`` findings are counted, not listed).
_VERDICT_ORDER = (REGRESSION, NOT_COMPARABLE, IMPROVEMENT, INFO)
#: Nothing but inline style and data: images may load; no script, frame, font or fetch.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1, h2, h3 { line-height: 1.2; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; text-align: left; font-size: 0.85em; color: #555; padding-top: 0.4em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; vertical-align: top; }
th:first-child, td.text { text-align: left; }
thead th { border-bottom: 2px solid #888; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
details { margin: 0.2em 0; }
summary { cursor: pointer; font-family: ui-monospace, monospace; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
code { font-family: ui-monospace, monospace; }
.pass { color: #176b2c; } .fail { color: #b00020; }
.regression { color: #b00020; font-weight: bold; } .not_comparable { color: #8a6100; }
.improvement { color: #176b2c; } .info { color: #1f4e99; }
.skipped { color: #666; font-size: 0.9em; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


@dataclass
class Report:
    """What goes on the page, gathered before any HTML is written (and returned to callers and tests)."""

    runs: list[Path]
    environments: list[dict[str, Any] | None]
    tables: list[tuple[str, str]] = field(default_factory=list)  # (title, HTML from segbench.tables)
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (name, PNG)
    skipped: list[str] = field(default_factory=list)  # tables and figures left out, with the reason
    comparisons: list[Comparison] = field(default_factory=list)
    records: list[list[dict[str, Any]]] = field(default_factory=list)  # per run


def check_run(path: Path) -> Path:
    """``path`` if it is a run directory (cells/ or table.csv); a one-line ValueError otherwise."""
    if not path.exists():
        raise ValueError(f"no run at {path}")
    run = RunDir(path)
    if not (run.has_records() or run.table_csv.is_file() or path.suffix == ".csv"):
        raise ValueError(f"{path} is not a run directory: it has neither cells/ nor table.csv")
    return path


def check_writable(out: Path) -> None:
    """Fail early, in one line, where ``out`` cannot be written: before tables and figures are made."""
    if out.is_dir():
        raise OutputPathError(f"cannot write {out}: it is a folder")
    folder = out.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {out}: its folder does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise OutputPathError(describe(e, out)) from None


def _with_data(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in frame and pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _tables(runs: Sequence[Path], report: Report) -> None:
    """The long table of models and one pivot per metric, each skipped alone with its reason."""
    frame = load_runs(runs)
    columns = _with_data(frame, LONG_COLUMNS)
    if columns:
        report.tables.append(("Models", render_long(long_table(runs, columns), "html")))
    for metric in _with_data(frame, PIVOT_METRICS):
        try:
            text = render(pivot_table(runs, metric), metric, "html")
            report.tables.append((f"{metric_style(metric).header} by encoder and decoder", text))
        except ValueError as reason:  # e.g. cells at two input sizes: the long table tells them apart
            report.skipped.append(f"skipped table of {metric}: {reason}")


def _figures(runs: Sequence[Path], report: Report, metric: str, images: int, data_root: str | None) -> None:
    from segbench.plots import make_plots  # matplotlib: loaded only when a report is made

    bare = [str(r) for r in runs if not RunDir(r).records()]
    if bare:  # figures are drawn from the cell records, which a table.csv alone does not have
        report.skipped.append(f"skipped every figure: {', '.join(bare)} holds no cell records (a table.csv alone)")
        return
    with tempfile.TemporaryDirectory(prefix="segbench-report-") as folder:
        for path in make_plots(list(runs), Path(folder), "png", metric, images, data_root,
                               report=report.skipped.append):
            report.figures.append((path.stem, path.read_bytes()))


def build_report(
    runs: Sequence[Path | str],
    baseline: Path | str | None = None,
    tolerances: Tolerances | None = None,
    metric: str = "miou",
    images: int = 4,
    data_root: str | None = None,
    ignore_keys: Sequence[str] = (),
) -> Report:
    """Everything the page shows: tables, figures, each run checked against ``baseline``, the records.

    ``tolerances`` and ``ignore_keys`` are :func:`segbench.compare.compare_runs`' own.
    """
    if not runs:
        raise ValueError("no run directory given")
    from segbench.plots import METRICS

    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}'; valid numeric columns: {', '.join(METRICS)}")
    paths = [check_run(Path(r)) for r in runs]
    if baseline is not None:
        check_run(Path(baseline))
    report = Report(paths, [RunDir(p).environment() for p in paths])
    _tables(paths, report)
    _figures(paths, report, metric, images, data_root)
    if baseline is not None:
        report.comparisons = [compare_runs(baseline, p, tolerances, ignore_keys) for p in paths]
    report.records = [RunDir(p).records() if RunDir(p).has_records() else [] for p in paths]
    return report


# --------------------------------------------------------------------------- HTML


def _cell_anchor(run: int, cell: str) -> str:
    return f"cell-{run}-{cell}"


def _environment_html(report: Report) -> str:
    envs = [env or {} for env in report.environments]
    keys = list(dict.fromkeys(k for env in envs for k in env))
    if not keys:
        return "<p>No run.json: the environment was not recorded.</p>"
    head = "".join(f"<th>run {i + 1}</th>" for i in range(len(envs)))
    rows = [f"<tr><th>{_esc(k)}</th>" + "".join(f'<td class="text">{_esc(_shown(env.get(k)))}</td>' for env in envs)
            + "</tr>" for k in keys]
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


def _findings_html(comparison: Comparison, run: int, anchors: set[str]) -> str:
    """The findings worth a look, worst first; each cell links to its record where the page has it."""
    shown = sorted((f for f in comparison.findings if f.verdict != OK), key=lambda f: _VERDICT_ORDER.index(f.verdict))
    if not shown:
        return ""
    rows = []
    for f in shown:
        anchor = _cell_anchor(run, f.cell)
        cell = f'<a href="#{_esc(anchor)}">{_esc(f.cell)}</a>' if anchor in anchors else _esc(f.cell)
        values = [format_value(f.metric, f.baseline), format_value(f.metric, f.current),
                  change(f.metric, f.baseline, f.current)]
        rows.append(f'<tr><td class="text"><code>{cell}</code></td><td class="text">{_esc(f.metric)}</td>'
                    + "".join(f"<td>{_esc(v)}</td>" for v in values)
                    + f'<td class="text {_esc(f.verdict)}">{_esc(f.verdict)}</td>'
                    + f'<td class="text">{_esc(f.message)}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("cell", "metric", "baseline", "current", "change", "verdict", "message"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _comparison_html(comparison: Comparison, run: int, anchors: set[str]) -> str:
    """One run's verdict: the headline, what was compared under which tolerances, the findings, added/removed."""
    status = "pass" if comparison.ok else "fail"
    counts = ", ".join(f"{sum(f.verdict == v for f in comparison.findings)} {v}" for v in (*_VERDICT_ORDER, OK))
    parts = [
        f'<h3 class="{status}">run {run + 1}: {_esc(comparison.headline())}</h3>',
        (f"<p>Baseline <code>{_esc(comparison.baseline)}</code>, current <code>{_esc(comparison.current)}</code>: "
         f"{len(comparison.findings)} checks on {comparison.matched} matched cells; "
         f"{_esc(comparison.tolerances.describe())}.</p>"),
        *(f"<p><em>{_esc(note)}</em></p>" for note in comparison.notes),
        f"<p>{_esc(counts)}; {len(comparison.added)} added, {len(comparison.removed)} removed.</p>",
        _findings_html(comparison, run, anchors),
    ]
    for title, cells in (("Added cells", comparison.added), ("Removed cells", comparison.removed)):
        if cells:
            items = "".join(f"<li><code>{_esc(c)}</code></li>" for c in cells)
            parts.append(f"<p>{title} ({len(cells)}):</p><ul>{items}</ul>")
    return "\n".join(p for p in parts if p)


def _figure_html(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="figure-{_esc(name)}"><img src="data:image/png;base64,{data}" alt="{_esc(name)}">'
            f"<figcaption>{_esc(name)}</figcaption></figure>")


def _record_html(run: int, record: Mapping[str, Any]) -> str:
    cell = str(record.get("cell_id"))
    status = str(record.get("status"))
    error = f" ({record['error']})" if record.get("error") else ""
    text = json.dumps(record, indent=2, default=str)
    return (f'<details id="{_esc(_cell_anchor(run, cell))}"><summary>{_esc(cell)}: {_esc(status + error)}'
            f"</summary><pre>{_esc(text)}</pre></details>")


def to_html(report: Report, title: str = "segbench report") -> str:
    """The page: one string of HTML that needs nothing else to be read."""
    anchors = {_cell_anchor(i, str(r.get("cell_id"))) for i, records in enumerate(report.records) for r in records}
    runs = "".join(f"<li>run {i + 1}: <code>{_esc(p)}</code></li>" for i, p in enumerate(report.runs))
    sections: list[tuple[str, str, str]] = [("environment", "Environment", _environment_html(report))]
    if report.comparisons:
        gate = "\n".join(_comparison_html(c, i, anchors) for i, c in enumerate(report.comparisons))
        sections.append(("gate", "Regression gate", gate))
    tables = "\n".join(f'<h3>{_esc(name)}</h3>\n<div class="table">{text}</div>' for name, text in report.tables)
    sections.append(("tables", "Tables", tables or "<p>No table: no cell has a value to tabulate.</p>"))
    figures = "\n".join(_figure_html(name, png) for name, png in report.figures)
    sections.append(("figures", "Figures", figures or "<p>No figure: the runs have no data to plot.</p>"))
    cells = "\n".join(
        f"<h3>run {i + 1} ({len(records)} cells)</h3>\n" + "\n".join(_record_html(i, r) for r in records)
        for i, records in enumerate(report.records)
    )
    sections.append(("cells", "Cell records", cells or "<p>No cell records (a table.csv alone).</p>"))
    if report.skipped:
        items = "".join(f"<li>{_esc(s)}</li>" for s in report.skipped)
        sections.append(("skipped", "Left out", f'<ul class="skipped">{items}</ul>'))
    nav = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name, _ in sections)
    body = "\n".join(f'<section id="{anchor}">\n<h2>{name}</h2>\n{content}\n</section>'
                     for anchor, name, content in sections)
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_esc(title)}</h1>
<ul>{runs}</ul>
<p>Made by segbench {_esc(__version__)} on {made}.</p>
<nav>{nav}</nav>
{body}
</body>
</html>
"""


def write_report(
    runs: Sequence[Path | str],
    out: Path | str,
    baseline: Path | str | None = None,
    tolerances: Tolerances | None = None,
    **options: Any,
) -> Report:
    """Build the report of ``runs`` and write it, atomically, to ``out`` (``options``: see :func:`build_report`).

    ``out`` is checked first, so an unwritable path fails before any figure is drawn.
    """
    out = Path(out)
    check_writable(out)
    report = build_report(runs, baseline, tolerances, **options)
    write_text_atomic(out, to_html(report), make_parents=False)
    return report
