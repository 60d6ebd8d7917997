"""The networks since 2019 at Cityscapes' full size: a profile-only grid at 1024x2048 on this machine.

Runs `segbench grid --profile-only --size 1024x2048 --num-classes 19` over the
whole networks and named pairs added since 2019 (a row per cell, whatever its
status), and prints each cell's parameters and multiply-adds beside the
figure its paper states at that size, where it states one. Those papers'
"GFLOPs" count multiply-adds, so they are compared with `gmacs`. Timing is cut
to one iteration: the point is that every cell builds, runs and is counted.

    python benchmarks/bench_networks_1024.py
    python benchmarks/bench_networks_1024.py --models ddrnet23_slim,pidnet_s --out runs/nets1024
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

NEW_MODELS = (
    "bisenetv2", "stdc1_seg", "stdc2_seg", "pp_liteseg_t", "pp_liteseg_b", "ddrnet23_slim", "ddrnet23",
    "pidnet_s", "pidnet_m", "pidnet_l", "regseg", "swiftnet_rn18", "contextnet", "lednet", "espnetv2",
    "dfanet_a", "dfanet_b", "segformer_b0", "segformer_b1", "segformer_b2", "hrnet_w18_ocr", "hrnet_w48_ocr",
)
#: Multiply-adds (10^9) the papers state at 1024x2048, 19 classes.
PAPER_GMACS_1024x2048 = {
    "ddrnet23_slim": 36.3, "ddrnet23": 143.1, "pidnet_s": 47.6, "pidnet_m": 197.4, "pidnet_l": 275.8,
    "regseg": 39.1, "swiftnet_rn18": 104.0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(NEW_MODELS))
    parser.add_argument("--out", type=Path, help="Run directory (default: a temporary folder).")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="segbench-nets1024-")) / "run"
    command = [sys.executable, "-m", "segbench", "grid", "--models", args.models, "--profile-only",
               "--size", "1024x2048", "--num-classes", "19", "--device", "cpu",
               "--warmup-iters", "0", "--min-iters", "1", "--min-time", "0", "--out", str(out)]
    print(" ".join(command[1:]), flush=True)
    subprocess.run(command, stdout=subprocess.DEVNULL)  # a grid whose cells all failed exits 1: still print
    table = pd.read_csv(out / "table.csv")
    pair = table["encoder"] + "+" + table["decoder"]
    table["model"] = table["decoder"].where(table["encoder"] == "-", pair)
    table["paper_gmacs"] = table["model"].map(PAPER_GMACS_1024x2048)
    named_pairs = {
        "segformer_b0": ("mit_b0", "segformer"), "segformer_b1": ("mit_b1", "segformer"),
        "segformer_b2": ("mit_b2", "segformer_768"),
        "hrnet_w18_ocr": ("hrnet_w18", "ocr"), "hrnet_w48_ocr": ("hrnet_w48", "ocr"),
    }
    for name, (encoder, decoder) in named_pairs.items():
        table.loc[(table["encoder"] == encoder) & (table["decoder"] == decoder), "model"] = name
    table["params_m"] = table["params"] / 1e6
    table["vs_paper"] = table["gmacs"] / table["paper_gmacs"] - 1
    columns = ["model", "status", "params_m", "gmacs", "paper_gmacs", "vs_paper", "latency_ms_median",
               "error"]
    rounded = table[columns].round({"params_m": 3, "gmacs": 2, "vs_paper": 3, "latency_ms_median": 0})
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(rounded.to_string(index=False))
    print(f"{(table['status'] == 'ok').sum()} of {len(table)} cells ok; run directory {out}")
    return 0 if (table["status"] == "ok").all() else 1


if __name__ == "__main__":
    sys.exit(main())
