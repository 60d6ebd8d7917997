"""The ``segbench`` command line: a thin Typer layer over the importable core.

Every command parses its options, calls one plain function, and renders what
it returns. A user mistake is one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segbench.display import grid_table, registry_table
from segbench.grid import DEFAULT_DECODERS, DEFAULT_ENCODERS, expand_grid, parse_size
from segbench.measure.latency import TimingConfig
from segbench.measure.profile import resolve_device
from segbench.models import DECODERS, ENCODERS
from segbench.runner import DEFAULT_RUNS_DIR, new_run_dir, run_grid

try:  # typer >= 0.2x vendors click and exposes its exception base
    from typer import TyperException as ClickError
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException as ClickError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Benchmark semantic segmentation encoder x decoder grids: params, GFLOPs, latency, memory.",
)
out = Console()
if not out.is_terminal:  # piped or in CI: rich would squeeze tables into 80 columns
    out.width = 200
err = Console(stderr=True)


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


class Listable(str, Enum):
    encoders = "encoders"
    decoders = "decoders"


def _timing(device: str, warmup_iters: int | None, min_iters: int | None, min_time: float | None) -> TimingConfig:
    base = TimingConfig.for_device(resolve_device(device))
    return TimingConfig(
        warmup_iters=base.warmup_iters if warmup_iters is None else warmup_iters,
        warmup_s=base.warmup_s if min_time is None else min(base.warmup_s, min_time),
        min_iters=base.min_iters if min_iters is None else min_iters,
        min_s=base.min_s if min_time is None else min_time,
        max_s=base.max_s if min_time is None else max(base.max_s, min_time),
    )


@app.command()
def grid(
    encoders: Annotated[str, typer.Option(help="Comma list of encoders.")] = ",".join(DEFAULT_ENCODERS),
    decoders: Annotated[str, typer.Option(help="Comma list of decoders.")] = ",".join(DEFAULT_DECODERS),
    size: Annotated[str, typer.Option(help="Input size HxW; comma-free list with ';' for several.")] = "360x480",
    batch_size: Annotated[int, typer.Option(help="Batch size for latency and memory.")] = 1,
    num_classes: Annotated[int, typer.Option(help="Number of output classes.")] = 21,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (autocast); comma list allowed.")] = "fp32",
    channels_last: Annotated[bool, typer.Option(help="Run in channels_last memory format.")] = False,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (torch.set_num_threads).")] = None,
    pretrained: Annotated[bool, typer.Option(help="Load cached ImageNet weights (no download).")] = False,
    warmup_iters: Annotated[Optional[int], typer.Option(help="Warm-up iterations (default by device).")] = None,
    min_iters: Annotated[Optional[int], typer.Option(help="Minimum timed iterations.")] = None,
    min_time: Annotated[Optional[float], typer.Option(help="Minimum timed seconds per cell.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Rerun cells that failed in --out.")] = False,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<run_id>/).")
    ] = None,
) -> None:
    """Measure every encoder x decoder pair: params, GFLOPs, latency, peak memory."""
    try:
        sizes = [parse_size(s) for s in size.split(";")]
        cells = expand_grid(
            encoders,
            decoders,
            sizes=sizes,
            batch_sizes=[batch_size],
            precisions=precision.split(","),
            device=device,
            num_classes=num_classes,
            channels_last=channels_last,
            threads=threads,
            pretrained=pretrained,
        )
        for value, what in [(warmup_iters, "--warmup-iters"), (min_iters, "--min-iters")]:
            if value is not None and value < (0 if what == "--warmup-iters" else 1):
                raise ValueError(f"{what} must be {'non-negative' if what == '--warmup-iters' else 'positive'}")
        if min_time is not None and min_time < 0:
            raise ValueError("--min-time must be non-negative")
        timing = _timing(device, warmup_iters, min_iters, min_time)
    except ValueError as e:
        raise UserError(str(e)) from None
    run_dir = out_dir or new_run_dir(DEFAULT_RUNS_DIR)

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("grid", total=len(cells))

        def on_start(cell: object) -> None:
            progress.update(task, description=f"{cell.encoder} + {cell.decoder}")  # type: ignore[attr-defined]

        def on_record(record: dict) -> None:
            if record["status"] != "ok":
                err.print(f"[red]{record['cell_id']}: {record['status']}[/]: {record['error']}")
            progress.advance(task)

        result = run_grid(cells, run_dir, timing=timing, retry_failed=retry_failed, on_start=on_start, on_record=on_record)
        progress.update(task, completed=len(result.ran) + len(result.reused), description="grid")

    out.print(grid_table(result.table))
    if result.reused:
        err.print(f"reused {len(result.reused)} finished cell(s) from {run_dir}")
    if result.interrupted:
        err.print(f"[yellow]interrupted[/]: {len(result.table)} cell(s) kept in {run_dir}; rerun with --out {run_dir} to resume")
        raise typer.Exit(130)
    err.print(f"results: {run_dir}/table.csv")


@app.command("list")
def list_(what: Annotated[Listable, typer.Argument(help="encoders or decoders")]) -> None:
    """List the registered encoders or decoders with their papers."""
    if what is Listable.encoders:
        entries = [(n, ENCODERS.metadata(n)) for n in ENCODERS.names()]
        out.print(registry_table("encoders", entries, ["source", "paper", "year"]))
    else:
        entries = [(n, DECODERS.metadata(n)) for n in DECODERS.names()]
        out.print(registry_table("decoders", entries, ["paper", "year", "needs"]))


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user mistakes into one line and exit status 2."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args or ["--help"], prog_name="segbench", standalone_mode=False)
    except UserError as e:
        return _fail(str(e))
    except typer.Abort:
        err.print("aborted", highlight=False)
        return 130
    except typer.Exit as e:
        return e.exit_code
    except ClickError as e:
        return _fail(e.format_message() if hasattr(e, "format_message") else str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
