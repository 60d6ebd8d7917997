"""``segbench report``: one self-contained HTML page of finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segbench.cli.app import UserError, app, err
from segbench.cli.params import DataRoot


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (several runs or seeds: mean +- std).")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    baseline: Annotated[Path | None, typer.Option(
        help="Also show the regression gate's verdict of each run against this run.")] = None,
    suite: Annotated[str | None, typer.Option(help="Take the gate's tolerances from this suite's [compare].")] = None,
    ignore_keys: Annotated[str | None, typer.Option(
        help="Key columns the gate leaves out of matching, e.g. seed.")] = None,
    metric: Annotated[str, typer.Option(help="Metric of the encoder x decoder heatmap.")] = "miou",
    images: Annotated[int, typer.Option(help="Images on the qualitative sheet.")] = 4,
    data_root: DataRoot = None,
) -> None:
    """One HTML file, readable offline: environment, tables, every figure, the gate's verdict, each cell's record."""
    from segbench.compare import Tolerances
    from segbench.report import write_report  # matplotlib and pandas: loaded for this command only
    from segbench.suites import load_suite

    try:
        settings = dict(load_suite(suite).compare) if suite else {}
        settings.pop("baseline", None)
        made = write_report(runs, out, baseline, Tolerances.from_mapping(settings), metric=metric, images=images,
                            data_root=data_root,
                            ignore_keys=ignore_keys.split(",") if ignore_keys else ())
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    for line in made.skipped:
        err.print(line, highlight=False, markup=False)
    verdicts = [c.headline() for c in made.comparisons]
    err.print(f"wrote {out}: {len(made.tables)} tables, {len(made.figures)} figures"
              + (f"; gate: {'; '.join(verdicts)}" if verdicts else ""), highlight=False, markup=False)
