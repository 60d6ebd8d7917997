"""Training curves: loss and validation mIoU per epoch, so a reader sees whether a cell converged."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from segbench.inputs import read_csv
from segbench.plots.data import seed_count, shared
from segbench.plots.layout import LINESTYLES, SkipPlot, colours, markers, new_figure
from segbench.rundir import RunDir

#: The per-epoch log the trainer writes into a cell's artifacts directory.
TRAIN_LOG = "log.csv"


def history(row: pd.Series) -> pd.DataFrame:
    """A cell's per-epoch log: train/<cell_id>/log.csv, else the history in its record."""
    path = RunDir(row["run_dir"]).artifacts(str(row["cell_id"])) / TRAIN_LOG
    if path.is_file():
        log = read_csv(path, "training log")
    elif row["train_history"]:
        log = pd.DataFrame(row["train_history"])
    else:
        return pd.DataFrame()
    for col in ["iteration", "loss", "val_miou"]:
        log[col] = pd.to_numeric(log[col], errors="coerce") if col in log.columns else math.nan
    return log


def plot_training_curves(frame: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Loss and validation mIoU against iteration: did each cell converge, or stop early?"""
    logs = [(row, history(row)) for _, row in frame.iterrows()]
    logs = [(row, log) for row, log in logs if not log.empty]
    if not logs:
        raise SkipPlot("no training log (train/<cell>/log.csv) nor history in the records")
    encoders = colours(sorted({row["encoder"] for row, _ in logs}))
    decoder_names = sorted({row["decoder"] for row, _ in logs})
    styles = {d: LINESTYLES[i % len(LINESTYLES)] for i, d in enumerate(decoder_names)}
    decoder_markers = markers(decoder_names)
    fig = new_figure(13.0, 5.4)
    ax_loss, ax_miou = fig.subplots(1, 2)
    seen: set[str] = set()
    for row, log in sorted(logs, key=lambda item: (item[0]["label"], str(item[0]["seed"]))):
        style = {"color": encoders[row["encoder"]], "linestyle": styles[row["decoder"]],
                 "marker": decoder_markers[row["decoder"]], "markersize": 6, "linewidth": 1.6}
        label = None if row["label"] in seen else row["label"]
        seen.add(row["label"])
        ax_loss.plot(log["iteration"], log["loss"], label=label, **style)
        val = log.dropna(subset=["val_miou"])
        ax_miou.plot(val["iteration"], val["val_miou"], **style)
    ax_loss.set(xlabel="iteration", ylabel="training loss (epoch mean)", title="Training loss")
    ax_miou.set(xlabel="iteration", ylabel="validation mIoU (%)", title="Validation mIoU")
    last = max(float(log["iteration"].max()) for _, log in logs)
    for ax in (ax_loss, ax_miou):
        ax.grid(True)
        ax.margins(y=0.12)
        ax.set_xlim(0, last * 1.05 if last > 0 else 1)  # from iteration 0: one epoch is a point at its end
    seeds = seed_count(frame)
    fig.legend(loc="outside right upper", frameon=False, title="colour = encoder\nmarker, line = decoder")
    dataset = shared(frame, "dataset")
    fig.suptitle(f"Training curves{f' on {dataset}' if dataset else ''}, one point per epoch"
                 f"{f', one line per seed ({seeds} seeds)' if seeds > 1 else ''}", x=0.02, ha="left")
    return fig
