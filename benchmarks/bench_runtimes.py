"""Eager vs torch.compile vs ONNX Runtime on the default grid's four cells, side by side in one run.

Each cell (resnet18, mobilenet x skip, unet) runs as the grid runs it
(:func:`segbench.cell.run_cell`), once per runtime, the runtimes of a cell one
after another so that they share the machine's state; eager runs again at the
end of each cell, and the ratio of its two medians says how much the machine
drifted meanwhile (on a shared machine, trust a ratio only when that one is
near 1). It prints each runtime's median latency, its ratio to eager
(below 1: faster), its build time and its largest logit difference from
eager, and ``roofline_fraction`` where the records carry one.

    python benchmarks/bench_runtimes.py                       # 360x480, CPU
    python benchmarks/bench_runtimes.py --size 180x240 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
import torch

from segbench.cell import run_cell
from segbench.config import CellConfig, model_label
from segbench.grid import DEFAULT_DECODERS, DEFAULT_ENCODERS, parse_size
from segbench.measure.ceilings import ensure_ceilings
from segbench.measure.latency import TimingConfig
from segbench.measure.roofline import roofline_fields

RUNTIMES = ("eager", "compile", "onnxruntime")
#: Shown where the records have it: the roofline's, from the ceilings probed once at the start, as a run does.
OPTIONAL = ("roofline_fraction",)


def measure(encoder: str, decoder: str, size: tuple[int, int], device: str, threads: int | None,
            timing: TimingConfig | None, ceilings: dict) -> list[dict]:
    """The cell's records: each runtime, then eager again (the drift check), with their roofline columns."""
    records = []
    for runtime in (*RUNTIMES, "eager"):
        cell = CellConfig(encoder=encoder, decoder=decoder, input_h=size[0], input_w=size[1], device=device,
                          threads=threads, runtime=runtime, timing=timing)
        record = run_cell(cell)
        records.append({**record, **roofline_fields(record, ceilings)})
        print(f"  {model_label(encoder, decoder)} {runtime}: {records[-1]['status']}", file=sys.stderr, flush=True)
    return records


def side_by_side(records: list[dict]) -> pd.DataFrame:
    """One row per cell: each runtime's median, its ratio to eager, its build time and logit difference."""
    rows = []
    for label in dict.fromkeys(model_label(r["encoder"], r["decoder"]) for r in records):
        mine = [r for r in records if model_label(r["encoder"], r["decoder"]) == label]
        eager, again = mine[0], mine[-1]
        row: dict = {"model": label, "eager ms": eager["latency_ms_median"],
                     "eager drift": again["latency_ms_median"] / eager["latency_ms_median"]}
        for record in mine[1:-1]:
            name = record["runtime"]
            if record["status"] != "ok":
                row[f"{name} x"] = f"{record['status']}: {record['error']}"[:60]
                continue
            row[f"{name} ms"] = record["latency_ms_median"]
            row[f"{name} x"] = record["latency_ms_median"] / eager["latency_ms_median"]
            row[f"{name} build s"] = record["runtime_build_s"]
            row[f"{name} max diff"] = record["runtime_max_abs_diff"]
        for column in OPTIONAL:
            for record in mine[:-1]:
                if column in record:
                    row[f"{record['runtime']} {column}"] = record[column]
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="360x480", help="Input size HxW.")
    parser.add_argument("--device", default="cpu", help="cpu or cuda.")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's).")
    parser.add_argument("--min-time", type=float, help="Minimum timed seconds per cell and runtime.")
    args = parser.parse_args()
    size = parse_size(args.size)
    timing = None
    if args.min_time is not None:
        base = TimingConfig.for_device(torch.device(args.device))
        timing = TimingConfig(base.warmup_iters, base.warmup_s, base.min_iters, args.min_time,
                              max(base.max_s, args.min_time))
    start = time.perf_counter()
    probe_cell = CellConfig(encoder=DEFAULT_ENCODERS[0], decoder=DEFAULT_DECODERS[0], input_h=size[0],
                            input_w=size[1], device=args.device, threads=args.threads)
    ceilings = ensure_ceilings([probe_cell], {})  # once, as a run probes them
    records = [r for e in DEFAULT_ENCODERS for d in DEFAULT_DECODERS
               for r in measure(e, d, size, args.device, args.threads, timing, ceilings)]
    wall = time.perf_counter() - start
    frame = side_by_side(records)
    threads = records[0].get("threads") or torch.get_num_threads()
    print(f"{args.device}, {size[0]}x{size[1]}, batch 1, fp32, {threads} thread(s); x = median / eager's median "
          f"(below 1: faster); eager drift = eager's median at the cell's end / at its start; {wall:.0f} s in all")
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(frame.to_string(float_format=lambda v: f"{v:.3g}"))
    failed = [f"{r['cell_id']}: {r['error']}" for r in records if r["status"] != "ok"]
    if failed:
        print("\n".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
