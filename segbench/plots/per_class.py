"""Per-class IoU, models x classes: which classes every model misses, and where models differ."""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segbench.plots.data import accuracy_label, over_cells
from segbench.plots.layout import Report, SkipPlot, new_figure, text_colour


def _per_class_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Models x classes of IoU (mean over seeds), and each model's mIoU; models by mIoU, best first."""
    rows, mious = {}, {}
    for label, group in frame.groupby("label", sort=False):
        arrays = [np.asarray([math.nan if v is None else v for v in lst], dtype=float)
                  for lst in group["per_class_iou"] if lst]
        names = next((lst for lst in group["class_names"] if lst), None)
        names = names or [f"class {i}" for i in range(len(arrays[0]))]
        with warnings.catch_warnings():  # a class absent in every seed: NaN is the right mean
            warnings.simplefilter("ignore", RuntimeWarning)
            rows[label] = pd.Series(np.nanmean(np.vstack(arrays), axis=0), index=names)
        mious[label] = group["miou"].mean()
    table = pd.DataFrame(rows).T
    order = pd.Series(mious).sort_values(ascending=False).index
    return table.loc[order], pd.Series(mious)[order]


def plot_per_class_iou(frame: pd.DataFrame, report: Report) -> Figure:
    """Models x classes of IoU: which classes every model misses, and where models differ.

    Class lists differ between datasets, so only the first dataset's cells are shown.
    """
    scored = frame[frame["per_class_iou"].map(bool)]
    if scored.empty:
        raise SkipPlot("no cell has per-class IoU (a --profile-only run, or every training failed)")
    dataset = scored["dataset"].iloc[0]
    if others := sorted(set(scored["dataset"].astype(str)) - {str(dataset)}):
        report(f"per_class_iou: shows {dataset} only; left out {', '.join(others)}")
        scored = scored[scored["dataset"] == dataset]
    table, mious = _per_class_table(scored)
    classes = list(table.columns)
    annotate = len(classes) <= 40
    width = max(8.0, (0.95 if annotate else 0.22) * len(classes) + 4.5)
    fig = new_figure(width, 0.55 * len(table) + 2.8)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(table.to_numpy(dtype=float)), cmap=cmap, vmin=0, vmax=100,
                      aspect="auto")
    if annotate:
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            text = f"{value:.0f}" if np.isfinite(value) else "–"
            ax.text(j, i, text, ha="center", va="center", fontsize=10,
                    color=text_colour(cmap(value / 100)) if np.isfinite(value) else "0.3")
    ax.set_xticks(range(len(classes)), classes, rotation=35 if annotate else 90, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(len(table)), [f"{m}  (mIoU {mious[m]:.1f})" for m in table.index])
    ax.tick_params(length=0)
    fig.colorbar(image, ax=ax, label="IoU (%)", pad=0.01)
    over = over_cells(scored, "mean")
    where = accuracy_label(scored).removeprefix("mIoU (%)").strip()
    ax.set_title(f"Per-class IoU (%) {where}{f', {over}' if over else ''}; "
                 f"grey = class absent from prediction and ground truth", loc="left")
    return fig
