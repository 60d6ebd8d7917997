"""The qualitative sheet: images, ground truth and each model's prediction side by side.

The predictions are the label maps evaluation saved (``RunDir.predictions``,
see :mod:`segbench.prediction_maps`); the images and ground truth are
reloaded from the dataset by the maps' sample ids. Plotting never loads a
checkpoint or runs a model: it shows exactly what was scored, at no cost. A
cell without saved predictions (a run from before they were saved) is left
out with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from segbench.label_colours import IGNORE_COLOURS, colourise, ignore_colour
from segbench.plots.layout import Report, SkipPlot, new_figure
from segbench.rundir import RunDir

__all__ = ["IGNORE_COLOURS", "colourise", "ignore_colour", "plot_qualitative"]

#: A model's saved label maps, by sample id.
Saved = dict[str, Path]


def _rgb(colour: Sequence[int]) -> tuple[float, float, float]:
    return (colour[0] / 255, colour[1] / 255, colour[2] / 255)


def _palette_legend(info: Any, classes: list[int]) -> tuple[list[Patch], list[str]]:
    """A swatch per class shown, and one for the ignore index in its own colour."""
    handles = [Patch(facecolor=_rgb(info.palette[k]), edgecolor="0.5") for k in classes]
    names = [info.class_names[k] for k in classes]
    handles.append(Patch(facecolor=_rgb(ignore_colour(info.palette)), edgecolor="0.5"))
    names.append(f"ignore ({info.ignore_index})")
    return handles, names


def _sheet_models(frame: pd.DataFrame, report: Report) -> list[tuple[pd.Series, Saved]]:
    """One cell per model with saved predictions (its lowest seed), best mIoU first; models without reported."""
    from segbench.prediction_maps import saved_predictions

    chosen, missing = [], []
    for label, group in frame.groupby("label", sort=False):
        for _, row in group.sort_values("seed").iterrows():
            saved = saved_predictions(RunDir(row["run_dir"]).predictions(str(row["cell_id"])))
            if saved:
                chosen.append((row, saved))
                break
        else:
            missing.append(str(label))
    if missing and chosen:
        report(f"qualitative sheet: no saved predictions (train/<cell>/predictions/) for {', '.join(missing)}; "
               "left out")
    return sorted(chosen, key=lambda item: -np.nan_to_num(item[0]["miou"], nan=-1.0))


def _open_dataset(row: pd.Series, data_root: str | None) -> Any:
    """The evaluation split of ``row``'s cell, with the dataset options it was trained with."""
    from segbench.data import build_dataset

    dataset, split = str(row["dataset"]), str(row["eval_split"] or "test")
    try:
        return build_dataset(dataset, data_root, split, **dict(row["dataset_options"] or {}))
    except (FileNotFoundError, ValueError) as e:
        raise SkipPlot(f"cannot open {dataset} {split}: {e}") from e


def _predictions(models: list[tuple[pd.Series, Saved]], names: list[str], masks: list[np.ndarray],
                 report: Report) -> list[tuple[pd.Series, list[np.ndarray]]]:
    """Each model's saved maps of ``names``; a model lacking one, or with one of another size, left out."""
    from segbench.inputs import read_prediction

    shown, dropped = [], []
    for row, saved in models:
        maps = [read_prediction(saved[name]) for name in names if name in saved]
        if len(maps) == len(names) and all(m.shape == mask.shape for m, mask in zip(maps, masks, strict=True)):
            shown.append((row, maps))
        else:
            dropped.append(str(row["label"]))
    if dropped:
        report(f"qualitative sheet: the saved predictions of {', '.join(dropped)} are not of the samples "
               "or sizes shown; left out")
    return shown


def plot_qualitative(frame: pd.DataFrame, num_images: int, data_root: str | None, report: Report) -> Figure:
    """Images, ground truth and each model's prediction side by side: errors a number cannot show."""
    if num_images <= 0:
        raise SkipPlot("qualitative_images is 0")
    trained = frame[frame["dataset"].notna() & (frame["status"] == "ok")]
    if trained.empty:
        raise SkipPlot("no trained cell (a --profile-only run)")
    dataset = str(trained["dataset"].iloc[0])
    models = _sheet_models(trained[(trained["dataset"] == dataset)], report)
    if not models:
        raise SkipPlot("no cell has predictions saved at evaluation (train/<cell>/predictions/); "
                       "a run made before segbench saved them has none")
    first = models[0][0]
    ds = _open_dataset(first, data_root or next((r for r in trained["data_root"] if r), None))
    info, split = ds.info, ds.split
    index = {stem: i for i, stem in enumerate(ds.stems)}
    names = sorted((n for n in models[0][1] if n in index), key=index.__getitem__)[:num_images]
    if not names:
        raise SkipPlot(f"the saved predictions name no sample of {dataset} {split}")
    samples = [ds.load_sample(index[name]) for name in names]
    shown = _predictions(models, names, [mask for _, mask in samples], report)
    if not shown:
        raise SkipPlot(f"no saved predictions are of the size of {dataset} {split}'s images")

    height, width = samples[0][1].shape
    panel = 2.3
    cols, rows = 2 + len(shown), len(names)
    fig = new_figure(cols * panel * max(0.6, min(2.0, width / height)), rows * panel + 1.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    titles = ["image", "ground truth"] + [
        f"{row['label']}\nseed {row['seed']}, mIoU {row['miou']:.1f}" for row, _ in shown]
    classes: set[int] = set()
    for r, (image, mask) in enumerate(samples):
        maps = [mask] + [predicted[r] for _, predicted in shown]
        classes.update(int(v) for m in maps for v in np.unique(m) if v < info.num_classes)
        panels = [image] + [colourise(m, info.palette, info.ignore_index) for m in maps]
        for c, picture in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=10)
        axes[r, 0].set_ylabel(names[r], fontsize=9)
    if len(classes) <= 40:
        handles, labels = _palette_legend(info, sorted(classes))
        per_row = max(3, int(fig.get_figwidth() / 1.7))  # as many swatches as fit the sheet's width
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), per_row), frameon=False)
    fig.suptitle(f"Predictions on {dataset} {split} (full-size images, saved at evaluation), models by mIoU",
                 x=0.02, ha="left")
    return fig
