"""The training recipe: a frozen dataclass whose field metadata says which fields are key columns.

It lives apart from :mod:`segbench.train` so that a cell's configuration
(:mod:`segbench.config`) can name its recipe without importing the trainer,
the data or the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("sgd", "adamw")
PRECISIONS = ("fp32", "fp16", "bf16")
DEFAULT_LOSS = "ce"
#: The poly schedule's power, ``(1 - progress) ** power``: DeepLab's, wherever a recipe does not say otherwise.
POLY_POWER = 0.9


@dataclass(frozen=True)
class RecipeDefaults:
    """What fills the recipe fields a user leaves out (:func:`segbench.options.recipe_defaults`)."""

    iterations: int | None
    batch_size: int
    lr: Mapping[str, float]  # by optimizer
    warmup_iters: int
    grad_clip_norm: float | None
    poly_power: float


#: A budget of the user's gets the usual learning rate, batch and schedule, and no clipping.
BUDGETED_RECIPE = RecipeDefaults(iterations=None, batch_size=8, lr={"adamw": 1e-3, "sgd": 0.01}, warmup_iters=20,
                                 grad_clip_norm=None, poly_power=POLY_POWER)
#: The built-in short recipe, used when no budget is given: AdamW at a high learning rate after a short
#: warm-up, the gradients' norm clipped to 1, decayed by a gentle poly (power 0.5), so the default grid
#: learns the synthetic set in a few CPU minutes (benchmarks/bench_default_grid.py measures it). Without
#: the clipping that learning rate knocked mobilenet+skip back at random (54-60 mIoU over seeds and thread
#: counts, against 75-76 with it). DeepLab's power 0.9 leaves the rate high for less of so short a run:
#: at 320 iterations it gave mobilenet+unet 63.6 and 70.2 mIoU for seeds 0 and 1, power 0.5 74.2 and 74.8.
SHORT_RECIPE = RecipeDefaults(iterations=320, batch_size=16, lr={**BUDGETED_RECIPE.lr, "adamw": 2e-2},
                              warmup_iters=40, grad_clip_norm=1.0, poly_power=0.5)  # SGD keeps its usual rate


def key(implied: Any = None, **metadata: Any) -> Any:
    """Metadata of a recipe field that is a key column (``train_<name>`` in a record).

    ``tag`` turns a value that is not the implied one into its part of the cell id (``focal``, ``ls0.1``).

    ``implied`` is the value every record written before the field existed
    had: such records read back with it, and a cell at that value keeps the
    fingerprint it had before the field was added.
    """
    return {"key": True, "implied": implied, **metadata}


def observer(**metadata: Any) -> Any:
    """Metadata of a recipe field that says how training is watched, not what is trained (how often the loss
    is logged, where TensorBoard writes): outside the fingerprint, so changing it neither retrains a
    finished cell nor stops an interrupted one from resuming."""
    return {"fingerprint": False, **metadata}


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe. Exactly one budget (epochs, iterations, time_s) is used."""

    epochs: int | None = None
    iterations: int | None = None
    #: The budget in seconds; its record column is ``train_time_budget_s`` (``train_time_s`` is the time taken).
    time_s: float | None = field(default=None, metadata={"record_name": "train_time_budget_s"})
    batch_size: int = 8
    crop_size: tuple[int, int] | None = None
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    warmup_iters: int = 0
    poly_power: float = POLY_POWER
    #: Clip the gradients' global L2 norm to this before each step (None: no clipping), as
    #: ``torch.nn.utils.clip_grad_norm_``. What keeps a high learning rate from knocking a small model back.
    grad_clip_norm: float | None = field(default=None, metadata={"implied": None})
    class_weights: bool = False
    aux_weight: float = 0.4
    precision: str = "fp32"
    channels_last: bool = False
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    eval_every: int = 1
    #: Processes training this one model data-parallel (one per GPU on CUDA); ``batch_size`` stays global.
    nproc_per_node: int = field(default=1, metadata={"implied": 1})
    #: A name in segbench.losses.LOSSES.
    loss: str = field(default=DEFAULT_LOSS, metadata=key(implied=DEFAULT_LOSS, tag=str))
    #: Cross-entropy's label smoothing (0: none), as ``nn.CrossEntropyLoss(label_smoothing=...)``.
    label_smoothing: float = field(default=0.0, metadata=key(implied=0.0, tag=lambda v: f"ls{v:g}"))
    #: Every this many iterations a line of the iteration log (train_log.jsonl) and a progress report.
    log_every: int = field(default=10, metadata=observer())
    #: A folder TensorBoard event files go to (one sub-folder per cell); None: no TensorBoard.
    tensorboard: str | None = field(default=None, metadata=observer())

    def __post_init__(self) -> None:
        from segbench.losses import check_loss  # the loss registry needs torch; the recipe itself does not

        budgets = [b for b in (self.epochs, self.iterations, self.time_s) if b is not None]
        if len(budgets) != 1:
            raise ValueError("give exactly one training budget: epochs, iterations or time")
        if budgets[0] <= 0:
            raise ValueError(f"the training budget must be positive, not {budgets[0]}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer '{self.optimizer}'; valid: {', '.join(OPTIMIZERS)}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError("batch size and learning rate must be positive")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise ValueError(f"the gradient clipping norm must be positive (or none), not {self.grad_clip_norm}")
        if self.nproc_per_node < 1:
            raise ValueError(f"nproc_per_node must be a positive number of processes, not {self.nproc_per_node}")
        if self.batch_size % self.nproc_per_node:
            raise ValueError(f"training batch size {self.batch_size} is not divisible by {self.nproc_per_node} "
                             "processes; the global batch is split evenly between them")
        if self.log_every < 1:
            raise ValueError(f"log_every must be a positive number of iterations, not {self.log_every}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown training precision '{self.precision}'; valid: {', '.join(PRECISIONS)}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label smoothing must be in [0, 1), not {self.label_smoothing}")
        check_loss(self.loss, self.class_weights, self.label_smoothing)

    @property
    def budget(self) -> str:
        if self.epochs is not None:
            return f"{self.epochs} epochs"
        if self.iterations is not None:
            return f"{self.iterations} iterations"
        return f"{self.time_s:g} s"
