"""Checked choices and defaults shared by every way a benchmark is described (suite, grid, train)."""

from __future__ import annotations

from typing import Any

from segbench.config import DataChoice
from segbench.data import DATASETS, build_dataset, dataset_info
from segbench.recipe import BUDGETED_RECIPE, SHORT_RECIPE
from segbench.spec import DataSpec

DEFAULT_DATASET: str = DataSpec.dataset  # declared once: the [data] dataset default


def data_choice(
    name: str,
    root: str | None,
    train_split: str = "train",
    val_split: str | None = "val",
    eval_split: str | None = None,
    options: dict[str, Any] | None = None,
) -> DataChoice:
    """Check the dataset name, its splits and its files, before anything runs.

    A missing or incomplete root raises ``DatasetNotFoundError`` (one line, naming the path).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; valid: {', '.join(DATASETS.names())}")
    info = dataset_info(name)
    val_split = val_split or None  # '' on the command line: no validation
    eval_split = eval_split or ("test" if "test" in info.splits else "val")
    for split in (train_split, val_split, eval_split):
        if split is not None and split not in info.splits:
            raise ValueError(f"{name}: unknown split '{split}'; valid: {', '.join(info.splits)}")
    if name != DEFAULT_DATASET and root is None:
        raise ValueError(f"dataset '{name}' needs --data-root")
    options = options or {}
    for split in dict.fromkeys(s for s in (train_split, val_split, eval_split) if s):
        try:
            build_dataset(name, root, split, **options)
        except TypeError as e:  # an option the dataset does not take
            raise ValueError(f"dataset '{name}' does not take these options {sorted(options)}: {e}") from None
    return DataChoice(name, root, train_split, val_split, eval_split, info.num_classes,
                      tuple(sorted(options.items())))


def recipe_defaults(
    epochs: int | None, iterations: int | None, time_budget: float | None, optimizer: str, lr: float | None,
    warmup_iters: int | None, batch_size: int | None = None, grad_clip: float | None = None,
) -> dict[str, Any]:
    """The :class:`~segbench.recipe.TrainConfig` fields these settings decide, what the user left out filled:
    from the short recipe without a budget, else from the budgeted defaults. A clipping norm of 0 is none."""
    short = epochs is None and iterations is None and time_budget is None
    base = SHORT_RECIPE if short else BUDGETED_RECIPE
    return {
        "iterations": base.iterations if short else iterations,
        "lr": base.lr.get(optimizer, base.lr["adamw"]) if lr is None else lr,
        "warmup_iters": base.warmup_iters if warmup_iters is None else warmup_iters,
        "batch_size": base.batch_size if batch_size is None else batch_size,
        "grad_clip_norm": (base.grad_clip_norm if grad_clip is None else grad_clip) or None,
        "poly_power": base.poly_power,
    }
