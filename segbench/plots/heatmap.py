"""One metric over the encoder x decoder grid: which component drives the number."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from segbench.columns import columns_of
from segbench.plots.data import (
    DISPLAY_SCALE,
    HIGHER_IS_BETTER,
    LABELS,
    MODEL_KEY,
    conditions,
    key_text,
    over_cells,
    scored_on,
)
from segbench.plots.layout import SkipPlot, format_spread, format_value, is_wide, new_figure, text_colour
from segbench.record import Accuracy

#: The columns scored on a dataset split (their titles name it).
ACCURACY_ONLY = set(columns_of(Accuracy))

#: Encoder x decoder tables of a facet: the mean over seeds, its std, and why an empty cell is empty.
GridTables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def facets(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Groups of cells that differ only in encoder and decoder: one encoder x decoder grid each."""
    others = [c for c in MODEL_KEY if c not in ("encoder", "decoder") and frame[c].astype(str).nunique() > 1]
    if not others:
        return [("", frame)]
    groups = frame.groupby([frame[c].astype(str) for c in others], sort=True)
    return [(" ".join(key_text(c, v) for c, v in zip(others, key, strict=True)), group) for key, group in groups]


def _cell_text(value: float, std: float, status: str) -> str:
    """A heatmap cell's annotation: the mean, its spread when seeds differ, or why it has no value."""
    if not np.isfinite(value):
        return status or "–"
    text = format_value(value)
    if np.isfinite(std) and std > 0:
        text += f"\n± {format_spread(std)}"
    return text


def _grid_tables(group: pd.DataFrame, metric: str, encoders: list[str], decoders: list[str]) -> GridTables:
    """Encoder x decoder tables of the mean over seeds, its std, and the failure status of empty cells."""
    cells = group.assign(value=group[metric] / DISPLAY_SCALE.get(metric, 1.0)).groupby(["encoder", "decoder"])

    def table(series: pd.Series) -> pd.DataFrame:
        return series.unstack().reindex(index=encoders, columns=decoders)

    failed = table(cells["status"].agg(lambda st: "/".join(sorted(set(st) - {"ok"})))).fillna("")
    return table(cells["value"].mean()), table(cells["value"].std(ddof=1)), failed


def _draw_grid(ax: Axes, tables: GridTables, cmap: Any, norm: Any) -> Any:
    """One encoder x decoder heatmap on ``ax``, annotated; returns the image for the colourbar."""
    grid, spread, failed = tables
    encoders, decoders = list(grid.index), list(grid.columns)
    values, spreads = grid.to_numpy(dtype=float), spread.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        colour = text_colour(cmap(norm(value))) if np.isfinite(value) else "0.25"
        ax.text(j, i, _cell_text(value, float(spreads[i, j]), str(failed.iat[i, j])), ha="center", va="center",
                fontsize=11, color=colour)
    ax.set_xticks(range(len(decoders)), decoders)
    ax.set_yticks(range(len(encoders)), encoders)
    ax.set_xlabel("decoder")
    ax.set_ylabel("encoder")
    ax.set_xticks(np.arange(len(decoders) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(encoders) + 1) - 0.5, minor=True)
    ax.grid(True, which="minor", color="white", linewidth=2, alpha=1)
    ax.tick_params(which="both", length=0)
    return image


def plot_heatmap(frame: pd.DataFrame, metric: str, envs: list[dict[str, Any]]) -> Figure:
    """``metric`` over the encoder x decoder grid: which component drives the number.

    The colour map runs so that brighter is better (more accuracy, less cost).
    """
    if frame[metric].notna().sum() == 0:
        raise SkipPlot(f"no cell has a value for {metric}")
    groups = facets(frame)
    encoders, decoders = sorted(frame["encoder"].unique()), sorted(frame["decoder"].unique())
    tables = [_grid_tables(group, metric, encoders, decoders) for _, group in groups]
    low = min(np.nanmin(t[0].to_numpy(dtype=float)) for t in tables)
    high = max(np.nanmax(t[0].to_numpy(dtype=float)) for t in tables)
    wide = is_wide([low, high])  # costs spanning more than 10x: a log colour scale, as the figures' axes
    norm = matplotlib.colors.LogNorm(low, high) if wide else matplotlib.colors.Normalize(low, high if high > low
                                                                                       else low + 1)
    cmap = matplotlib.colormaps["viridis" if metric in HIGHER_IS_BETTER else "viridis_r"]
    cmap = cmap.with_extremes(bad="0.85")
    fig = new_figure(len(groups) * (1.45 * len(decoders) + 1.8) + 1.6, 0.8 * len(encoders) + 2.4)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (name, _), facet_tables in zip(axes, groups, tables, strict=True):
        image = _draw_grid(ax, facet_tables, cmap, norm)
        ax.set_title(name)
    fig.colorbar(image, ax=list(axes), label=LABELS.get(metric, metric), shrink=0.9)
    note = over_cells(frame) or "one cell each"
    where = scored_on(frame) if metric in ACCURACY_ONLY else ""  # accuracy: where scored; costs: the device below
    fig.suptitle(f"{LABELS.get(metric, metric)}{f' on {where}' if where else ''} per encoder x decoder, {note}; "
                 "grey = no value\n"
                 f"{conditions(frame, envs, spread=False)}", x=0.02, ha="left", fontsize=12)
    return fig
