"""Commands on finished runs: compare (the regression gate), table and plot."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segbench.cli.app import UserError, app, err, out
from segbench.cli.params import DataRoot
from segbench.compare import Tolerances, compare_runs, comparison_table, update_baseline
from segbench.latex import LatexLayout
from segbench.outputs import write_text_atomic
from segbench.spec import Given, options
from segbench.suites import load_suite
from segbench.tables import Format, long_table, pivot_table, render, render_long


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="Baseline run directory or table.csv.")],
    current: Annotated[Path, typer.Argument(help="Current run directory or table.csv.")],
    suite: Annotated[str | None, typer.Option(help="Take tolerances from this suite's [compare].")] = None,
    latency_factor: Annotated[float | None, typer.Option(
        help="Slower than this factor (and significant) fails.")] = None,
    memory_ratio: Annotated[float | None, typer.Option(help="Peak memory above this ratio fails.")] = None,
    miou_drop: Annotated[float | None, typer.Option(help="mIoU lower by more than these points fails.")] = None,
    latency_gate: Annotated[bool | None, typer.Option(help="Gate on latency (else informational).")] = None,
    ignore_keys: Annotated[str | None, typer.Option(help="Key columns left out of matching, e.g. seed.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Also write a markdown summary here (CI comment).")] = None,
    update: Annotated[bool, typer.Option(help="Make CURRENT the new baseline at BASELINE, on purpose.")] = False,
) -> None:
    """Compare a run with a baseline: exit 1 on any regression or when no cell matched, 0 otherwise.

    params and GFLOPs must be equal; latency may not be slower beyond a factor
    with significance on the raw samples; memory beyond a ratio; mIoU lower
    beyond a number of points; no cell may newly fail or go missing. Latency from another
    device or torch version is reported as not comparable.
    """
    try:
        if update:
            path = update_baseline(current, baseline)
            err.print(f"baseline {path} now holds {current}")
            return
        settings = dict(load_suite(suite).compare) if suite else {}
        settings.pop("baseline", None)
        flags = {"latency_factor": latency_factor, "memory_ratio": memory_ratio, "miou_drop": miou_drop,
                 "latency_gate": latency_gate}
        settings.update({k: v for k, v in flags.items() if v is not None})
        result = compare_runs(baseline, current, Tolerances.from_mapping(settings),
                              ignore_keys=ignore_keys.split(",") if ignore_keys else ())
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    if not result.matched:  # a gate that compared nothing must not pass
        err.print(f"error: {result.headline()}", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(comparison_table(result))
    summary = result.to_markdown()
    if markdown:
        write_text_atomic(markdown, summary, make_parents=False)  # a missing folder: one line, exit 2
    (err.print if result.ok else out.print)(result.headline())
    if not result.ok:
        raise typer.Exit(1)


class TableFormat(str, Enum):
    markdown = "markdown"
    latex = "latex"
    csv = "csv"
    html = "html"


@app.command()
@options(LatexLayout)
def table(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (several runs or seeds: mean +- std).")],
    value: Annotated[str, typer.Option(help="Metric to tabulate, e.g. miou, gflops, latency_ms_median.")] = "miou",
    rows: Annotated[str, typer.Option(help="Column for the rows.")] = "encoder",
    cols: Annotated[str, typer.Option(help="Column for the columns.")] = "decoder",
    long: Annotated[bool, typer.Option("--long", help="One row per model with --columns instead.")] = False,
    columns: Annotated[str, typer.Option(help="Columns of the long form.")] = "params,gflops,throughput_img_s,miou",
    where: Annotated[list[str] | None, typer.Option("--where", help="Filter, e.g. --where input_h=360.")] = None,
    output_format: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.markdown,
    given: Given | None = None,
) -> None:
    """Print a paper table: encoder x decoder of one metric, or a long table of models.

    LaTeX tables fit the page: set at the largest font size that fits --width,
    scaled down below \\scriptsize; --wide makes a table*, --longtable a longtable.
    """
    try:
        assert given is not None  # filled by @options
        layout = LatexLayout(**given[LatexLayout])
        fmt: Format = output_format.value
        filters = dict(_parse_filter(w) for w in where or [])
        if long:
            text = render_long(long_table(runs, columns.split(","), filters=filters), fmt, layout=layout)
        else:
            text = render(pivot_table(runs, value, rows, cols, filters=filters), value, fmt, layout=layout)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    typer.echo(text)


def _parse_filter(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"malformed filter '{text}'; expected COLUMN=VALUE")
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            continue
    return key, raw


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (several runs or seeds are pooled).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the figures.")] = Path("results/plots"),
    output_format: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
    metric: Annotated[str, typer.Option(help="Metric of the encoder x decoder heatmap.")] = "miou",
    images: Annotated[int, typer.Option(help="Images on the qualitative sheet.")] = 4,
    data_root: DataRoot = None,
) -> None:
    """Figures: accuracy vs GFLOPs and latency (Pareto front), latency and memory, heatmap,
    per-class IoU, training curves, and a qualitative sheet of predictions."""
    from segbench.plots import make_plots  # matplotlib and the figures: loaded for this command only

    try:
        paths = make_plots(runs, out_dir, output_format, metric, images, data_root,
                           report=lambda line: err.print(line, highlight=False, markup=False))
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    for path in paths:
        out.print(str(path), highlight=False)
