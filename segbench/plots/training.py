"""Training curves: the loss every N iterations and validation mIoU per epoch, so a reader sees convergence."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from segbench.inputs import read_csv
from segbench.plots.data import seed_count, shared
from segbench.plots.layout import LINESTYLES, SkipPlot, colours, markers, new_figure, use_log_if_wide
from segbench.rundir import RunDir
from segbench.train_log import read_iteration_log


def history(row: pd.Series) -> pd.DataFrame:
    """A cell's per-epoch log: train/<cell_id>/log.csv, else the history in its record."""
    path = RunDir(row["run_dir"]).epoch_log(str(row["cell_id"]))
    if path.is_file():
        log = read_csv(path, "training log")
    elif row["train_history"]:
        log = pd.DataFrame(row["train_history"])
    else:
        return pd.DataFrame()
    return _numeric(log, ["iteration", "loss", "val_miou"])


def _numeric(log: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for col in columns:
        log[col] = pd.to_numeric(log[col], errors="coerce") if col in log.columns else math.nan
    return log


def curves(row: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """A cell's loss and validation mIoU against iteration, and whether the loss is iteration-level.

    From the iteration log (train_log.jsonl) where the cell has one; a run
    made before it existed falls back to its per-epoch log (one point per epoch).
    """
    entries = read_iteration_log(RunDir(row["run_dir"]).iteration_log(str(row["cell_id"])))
    steps = pd.DataFrame([e for e in entries if e.get("mode") == "train"])
    vals = pd.DataFrame([e for e in entries if e.get("mode") == "val"])
    epochs = history(row) if steps.empty or vals.empty else pd.DataFrame()
    loss = _numeric(steps, ["iteration", "loss"]) if not steps.empty else epochs
    val = _numeric(vals, ["iteration", "val_miou"]) if not vals.empty else epochs
    if not val.empty:
        val = val.dropna(subset=["val_miou"])
    return loss, val, not steps.empty


def _title(frame: pd.DataFrame, iteration_level: bool) -> str:
    dataset, train, val = shared(frame, "dataset"), shared(frame, "train_split"), shared(frame, "val_split")
    where = f" on {dataset}" if dataset else ""
    where += f" {train} split" if dataset and train else ""
    where += f" (validation mIoU on {val})" if val else ""
    every = shared(frame, "train_log_every")
    step = (f"loss: the mean of every {every} iterations" if every else "loss every N iterations") \
        if iteration_level else "loss: the mean of each epoch"
    seeds = seed_count(frame)
    return f"Training curves{where}\n{step}; validation after each epoch" + (
        f"; one line per seed ({seeds} seeds)" if seeds > 1 else "")


def plot_training_curves(frame: pd.DataFrame, envs: list[dict[str, Any]]) -> Figure:
    """Loss (left axis) and validation mIoU (right axis) against iteration: did each cell converge?"""
    logs = [(row, *curves(row)) for _, row in frame.iterrows()]
    logs = [item for item in logs if not (item[1].empty and item[2].empty)]
    if not logs:
        raise SkipPlot("no training log (train/<cell>/train_log.jsonl or log.csv) nor history in the records")
    encoders = colours(sorted({row["encoder"] for row, *_ in logs}))
    decoder_names = sorted({row["decoder"] for row, *_ in logs})
    styles: dict[str, Any] = {d: LINESTYLES[i % len(LINESTYLES)] for i, d in enumerate(decoder_names)}
    decoder_markers = markers(decoder_names)
    fig = new_figure(12.0, 6.0)
    ax_loss = fig.add_subplot()
    ax_miou = ax_loss.twinx()
    handles: dict[str, Line2D] = {}
    losses: list[float] = []
    for row, loss, val, _ in sorted(logs, key=lambda item: (item[0]["label"], str(item[0]["seed"]))):
        colour, marker = encoders[row["encoder"]], decoder_markers[row["decoder"]]
        if not loss.empty:
            ax_loss.plot(loss["iteration"], loss["loss"], color=colour, linestyle=styles[row["decoder"]],
                         linewidth=1.5, marker=marker if len(loss) <= 3 else None)
            losses += loss["loss"].dropna().tolist()
        if not val.empty:
            ax_miou.plot(val["iteration"], val["val_miou"], color=colour, linestyle=":", linewidth=1.0,
                         marker=marker, markersize=6, markeredgecolor="black", markeredgewidth=0.5)
        handles.setdefault(str(row["label"]), Line2D([], [], color=colour, linestyle=styles[row["decoder"]],
                                                     marker=marker, markeredgecolor="black", markeredgewidth=0.5))
    use_log_if_wide(ax_loss, losses, axis="y")
    ax_loss.set(xlabel="iteration", ylabel="training loss (line)")
    ax_miou.set_ylabel("validation mIoU (%) (markers, dotted)")
    last = max((float(df["iteration"].max()) for _, loss, val, _ in logs for df in (loss, val) if not df.empty),
               default=0.0)
    ax_loss.grid(True)
    ax_loss.set_xlim(0, last * 1.03 if last > 0 else 1)
    for ax in (ax_loss, ax_miou):
        ax.margins(y=0.12)
    key = [Line2D([], [], color="0.3", linewidth=1.5), Line2D([], [], color="0.3", linestyle=":", marker="o")]
    fig.legend([*key, *handles.values()], ["training loss (left)", "validation mIoU (right)", *handles],
               loc="outside right upper", frameon=False, title="colour = encoder, line/marker = decoder")
    iteration_level = any(level for *_, level in logs)
    fig.suptitle(_title(frame, iteration_level), x=0.02, ha="left")
    return fig
