"""The README's first command, measured: `segbench grid` with its defaults, once per seed.

Runs the default job (resnet18,mobilenet x skip,unet, the short recipe on
the synthetic set, profiled at 360x480) as a user would, in a fresh process
per seed, and prints each cell's test mIoU per seed, each run's wall time,
and whether the README's promises hold: every cell at least 50 mIoU, the
four cells ranked alike by every seed (two cells within 2 points of each
other may swap), and each run within 3 minutes. Exit status 1 if one does not.

    python benchmarks/bench_default_grid.py                 # seeds 0 and 1
    python benchmarks/bench_default_grid.py --seeds 0,1,2 --keep runs/
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

MIN_MIOU = 50.0
MAX_WALL_S = 180.0
SWAP_MARGIN = 2.0


def run_default_grid(seed: int, out: Path) -> tuple[pd.DataFrame, float]:
    """The default grid for ``seed`` into ``out``: its table and the command's wall time."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "segbench", "grid", "--seed", str(seed), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    table = pd.read_csv(out / "table.csv")
    table["cell"] = table["encoder"] + "+" + table["decoder"]
    return table.set_index("cell"), wall


def rank_conflicts(miou: pd.DataFrame) -> list[str]:
    """Pairs of cells that two seeds order differently, although more than SWAP_MARGIN apart in one."""
    conflicts = []
    for a, b in itertools.combinations(miou.index, 2):
        gaps = miou.loc[a] - miou.loc[b]
        if (gaps > 0).any() and (gaps < 0).any() and (gaps.abs() > SWAP_MARGIN).any():
            conflicts.append(f"{a} vs {b}: {', '.join(f'{g:+.1f}' for g in gaps)}")
    return conflicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1", help="Comma list of training seeds.")
    parser.add_argument("--keep", type=Path,
                        help="Keep the run directories here (default: a temporary folder).")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="segbench-default-grid-"))

    miou, walls = {}, {}
    for seed in seeds:
        table, walls[seed] = run_default_grid(seed, root / f"seed{seed}")
        miou[f"seed {seed}"] = table["miou"]
        print(f"seed {seed}: {walls[seed]:.0f} s", flush=True)
    frame = pd.DataFrame(miou).sort_values(f"seed {seeds[0]}", ascending=False)
    print(frame.round(1).to_string())

    failures = [f"{cell} seed {s}: {v:.1f} mIoU < {MIN_MIOU:g}" for cell, row in frame.iterrows()
                for s, v in row.items() if v < MIN_MIOU]
    failures += [f"ranking differs: {c}" for c in rank_conflicts(frame)]
    failures += [f"seed {s}: {w:.0f} s > {MAX_WALL_S:g} s" for s, w in walls.items() if w > MAX_WALL_S]
    print("\n".join(failures) if failures else
          f"every cell >= {MIN_MIOU:g} mIoU, one ranking for all seeds, each run <= {MAX_WALL_S:g} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
