"""Checked choices and defaults shared by every way a benchmark is described (suite, grid, train)."""

from __future__ import annotations

from typing import Any

from segbench.config import DataChoice
from segbench.data import DATASETS, build_dataset, dataset_info
from segbench.spec import DataSpec

DEFAULT_DATASET: str = DataSpec.dataset  # declared once: the [data] dataset default
#: The built-in short recipe, used when no budget is given: 400 AdamW iterations of batch 16 at a high
#: learning rate after a short warm-up, the gradients' norm clipped to 1, so the default grid learns the
#: synthetic set in a few CPU minutes (benchmarks/bench_default_grid.py measures it). Without the clipping
#: that learning rate knocked mobilenet+skip back at random: 54-60 mIoU over seeds and thread counts,
#: against 75-76 with it. A budget of the user's gets the usual learning rate and batch, and no clipping.
DEFAULT_ITERATIONS = 400
SHORT_RECIPE_BATCH = 16
SHORT_RECIPE_LR = 2e-2
SHORT_RECIPE_WARMUP = 40
SHORT_RECIPE_GRAD_CLIP = 1.0
#: Batch, base learning rate per optimizer, and warm-up iterations, where a budget is given but they are not.
DEFAULT_BATCH = 8
DEFAULT_LR = {"adamw": 1e-3, "sgd": 0.01}
DEFAULT_WARMUP = 20


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
) -> tuple[int | None, float, int, int, float | None]:
    """(iterations, lr, warm-up, batch, clipping norm) with what the user left out filled: the short recipe
    without a budget. A clipping norm of 0 is none."""
    short = epochs is None and iterations is None and time_budget is None
    if short:
        iterations = DEFAULT_ITERATIONS
    if lr is None:
        lr = SHORT_RECIPE_LR if short and optimizer == "adamw" else DEFAULT_LR.get(optimizer, DEFAULT_LR["adamw"])
    if warmup_iters is None:
        warmup_iters = SHORT_RECIPE_WARMUP if short else DEFAULT_WARMUP
    if batch_size is None:
        batch_size = SHORT_RECIPE_BATCH if short else DEFAULT_BATCH
    if grad_clip is None:
        grad_clip = SHORT_RECIPE_GRAD_CLIP if short else None
    return iterations, lr, warmup_iters, batch_size, grad_clip or None
