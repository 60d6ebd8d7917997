"""A cell's configuration: everything that determines its numbers, with its key columns and fingerprints.

Each field of :class:`CellConfig` (and of its recipe, :class:`TrainConfig`)
says in its metadata what it is: a key column (``key``), a value every
older record implied (``implied``), a part of the measurement fingerprint
rather than the model's (``fingerprint="measure"``). The key columns, the
record's flat fields and both fingerprints are derived from those fields,
so a new field cannot be one and not the other.

This module imports nothing from training, evaluation or the models.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from segbench.recipe import TrainConfig

if TYPE_CHECKING:
    from segbench.measure.latency import TimingConfig

#: A whole network's registry entry has this encoder name (see segbench.models.catalog).
WHOLE_NETWORK = "-"
#: The runtime of every cell measured before runtimes existed: the model called as it is.
EAGER = "eager"


def is_whole_network(encoder: str) -> bool:
    return encoder == WHOLE_NETWORK


def model_label(encoder: str, decoder: str) -> str:
    """How a row is named in tables and plots: ``enet``, or ``resnet18+unet``."""
    return decoder if is_whole_network(encoder) else f"{encoder}+{decoder}"


_NOTHING = object()


def _key(implied: Any = _NOTHING, **metadata: Any) -> Any:
    """A key column's metadata; ``implied`` (when given) is the value records written before it existed had."""
    return {"key": True, **({} if implied is _NOTHING else {"implied": implied}), **metadata}


def _format_scales(scales: tuple[float, ...] | None) -> str | None:
    return None if scales is None else ",".join(f"{s:g}" for s in scales)


@dataclass(frozen=True)
class InferenceConfig:
    """Which add-ons run at inference. The default is the plain model."""

    tta_scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    crf: bool = False
    crf_iterations: int = 5
    mc_samples: int = 0
    attention_scales: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tta_scales", tuple(float(s) for s in self.tta_scales))
        if self.attention_scales is not None:
            object.__setattr__(self, "attention_scales", tuple(float(s) for s in self.attention_scales))
        if not self.tta_scales or any(not 0 < s <= 4 for s in self.tta_scales):
            raise ValueError(f"test-time scales must be in (0, 4], not {_format_scales(self.tta_scales)}")
        if len(set(self.tta_scales)) != len(self.tta_scales):
            raise ValueError(f"test-time scales repeat: {_format_scales(self.tta_scales)}")
        if self.crf_iterations < 1:
            raise ValueError(f"CRF iterations must be a positive integer, not {self.crf_iterations}")
        if self.mc_samples < 0 or self.mc_samples == 1:
            raise ValueError(f"MC dropout samples must be 0 (off) or at least 2, not {self.mc_samples}")
        scales = self.attention_scales
        if scales is not None and (
            len(scales) < 2 or any(not 0 < s <= 4 for s in scales) or len(set(scales)) != len(scales)
        ):
            raise ValueError(
                f"attention scales must be two or more distinct numbers in (0, 4], not {_format_scales(scales)}"
            )

    @property
    def is_plain(self) -> bool:
        return self == InferenceConfig()

    def columns(self) -> dict[str, Any]:
        """The record's key columns (scales as text, e.g. ``"0.75,1,1.25"``, so tables can group on them)."""
        return {
            "tta_scales": _format_scales(self.tta_scales),
            "tta_flip": self.flip,
            "crf": self.crf,
            "crf_iterations": self.crf_iterations if self.crf else None,
            "mc_samples": self.mc_samples,
            "attention_scales": _format_scales(self.attention_scales),
        }

    @property
    def tag(self) -> str:
        """A short, file-name-safe suffix for cell ids (empty when plain)."""
        parts = []
        if self.attention_scales:
            parts.append("att" + "-".join(f"{s:g}" for s in self.attention_scales))
        if self.tta_scales != (1.0,):
            parts.append("ms" + "-".join(f"{s:g}" for s in self.tta_scales))
        if self.flip:
            parts.append("flip")
        if self.mc_samples:
            parts.append(f"mc{self.mc_samples}")
        if self.crf:
            parts.append(f"crf{self.crf_iterations}")
        return "_".join(parts)


#: Columns of a cell without add-ons (what records from before add-ons read as).
PLAIN_COLUMNS = dict.fromkeys(InferenceConfig().columns())


@dataclass(frozen=True)
class DataChoice:
    """A dataset, its root, its splits and options, checked (see :func:`segbench.options.data_choice`)."""

    name: str
    root: str | None
    train_split: str
    val_split: str | None
    eval_split: str
    num_classes: int
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class CellConfig:
    """Everything that determines a cell's numbers (the model, the data, the recipe, the timing)."""

    encoder: str = field(metadata=_key())
    decoder: str = field(metadata=_key())
    input_h: int = field(metadata=_key())
    input_w: int = field(metadata=_key())
    batch_size: int = field(default=1, metadata=_key())
    precision: str = field(default="fp32", metadata=_key())
    device: str = field(default="cpu", metadata=_key())
    channels_last: bool = field(default=False, metadata=_key())
    #: How the timed forward runs (a name in segbench.runtimes.RUNTIMES). It changes how the model is
    #: timed, not the model, so it is part of the measurement fingerprint; at eager, the cell keeps the
    #: id and fingerprints it had before runtimes existed.
    runtime: str = field(default=EAGER, metadata=_key(implied=EAGER, fingerprint="measure"))
    #: torch.compile's mode, for a runtime that takes one (None for the others).
    compile_mode: str | None = field(default=None, metadata=_key(implied=None, fingerprint="measure"))
    num_classes: int = field(default=21, metadata=_key())
    threads: int | None = None
    pretrained: bool = field(default=False, metadata=_key(implied=False))
    dataset: str | None = field(default=None, metadata=_key())
    train_split: str = "train"
    val_split: str | None = "val"
    eval_split: str = "test"
    train: TrainConfig | None = None
    #: Keyword options of the dataset (e.g. the synthetic set's size), as sorted (name, value) pairs.
    dataset_options: tuple[tuple[str, Any], ...] = ()
    #: Where the data lives: not part of the fingerprint, so moving a dataset keeps finished cells.
    data_root: str | None = field(default=None, compare=False)
    #: Inference add-ons (TTA, CRF, MC dropout, attention to scale); None is the plain model.
    inference: InferenceConfig | None = None
    #: How latency is timed (None: the device's defaults). It has a fingerprint of its own, so a cell
    #: measured with other settings is measured again, while its training is reused.
    timing: TimingConfig | None = field(default=None, metadata={"fingerprint": "measure"})

    @property
    def cell_id(self) -> str:
        """A readable, file-name-safe id, unique within a run."""
        parts = [
            *([] if self.encoder == WHOLE_NETWORK else [self.encoder]),
            self.decoder,
            f"{self.input_h}x{self.input_w}",
            f"b{self.batch_size}",
            self.precision,
            self.device,
            f"c{self.num_classes}",
        ]
        if self.channels_last:
            parts.append("cl")
        if self.pretrained:
            parts.append("pre")
        if self.runtime != EAGER:  # ``compile``, ``compile-max-autotune``, ``onnxruntime``
            mode = self.compile_mode not in (None, "default")
            parts.append(f"{self.runtime}-{self.compile_mode}" if mode else self.runtime)
        if self.dataset:
            parts += [self.dataset, f"s{self.train.seed if self.train else 0}"]
        if self.train:  # recipes side by side in one run directory
            parts += _recipe_tags(self.train)
        if self.inference and self.inference.tag:
            parts.append(self.inference.tag)
        return "__".join(parts).replace(":", "-").replace("/", "-")

    @property
    def fingerprint(self) -> str:
        """Hash of what determines the model and its scores: a finished cell is reused only if this matches.

        A recipe field at its ``implied`` value is left out, so adding one keeps every older fingerprint.
        """
        config = {f.name: getattr(self, f.name) for f in fields(self) if f.compare and "fingerprint" not in f.metadata}
        config["train"] = _without_implied(self.train) if self.train else None
        if self.inference is None:  # cells without add-ons keep the fingerprint they had before add-ons
            del config["inference"]
        else:
            config["inference"] = asdict(self.inference)
        return _hash(config)

    @property
    def measure_fingerprint(self) -> str:
        """Hash of how the cell is timed: other settings re-measure the cell (its training is kept).

        A field at its ``implied`` value is left out, so adding one keeps every older fingerprint.
        """
        measured = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("fingerprint") == "measure"
                    and not ("implied" in f.metadata and getattr(self, f.name) == f.metadata["implied"])}
        return _hash(measured)

    def key(self) -> dict[str, Any]:
        """The flat record fields of this configuration (the recipe flattened with a ``train_`` prefix)."""
        nested = ("train", "dataset_options", "inference", "timing")
        key = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in nested}
        key["dataset_options"] = dict(self.dataset_options)
        if not self.dataset:
            key.update(train_split=None, val_split=None, eval_split=None)
        key["seed"] = self.train.seed if self.train else None
        key["train_budget"] = self.train.budget if self.train else None
        if self.train:
            key.update({train_column(f.name): getattr(self.train, f.name) for f in fields(TrainConfig)})
        key.update(self.inference.columns() if self.inference else PLAIN_COLUMNS)
        key["timing"] = asdict(self.timing) if self.timing else None
        key["measure_fingerprint"] = self.measure_fingerprint
        return key


def train_column(name: str) -> str:
    """The record column of a recipe field: ``train_<name>``, unless the field names another."""
    (f,) = (f for f in fields(TrainConfig) if f.name == name)
    return str(f.metadata.get("record_name", f"train_{name}"))


def _recipe_tags(recipe: TrainConfig) -> list[str]:
    """The cell-id tags of the recipe's key fields that are not at their implied value (``focal``, ``ls0.1``)."""
    return [
        f.metadata["tag"](getattr(recipe, f.name)) for f in fields(recipe)
        if f.metadata.get("key") and getattr(recipe, f.name) != f.metadata.get("implied")
    ]


def _without_implied(recipe: TrainConfig) -> dict[str, Any]:
    """The recipe's part of the fingerprint: fields at their implied value, and observers, left out."""
    values = asdict(recipe)
    for f in fields(recipe):
        implied = "implied" in f.metadata and values[f.name] == f.metadata["implied"]
        if implied or f.metadata.get("fingerprint") is False:
            del values[f.name]
    return values


def _hash(config: dict[str, Any]) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def implied_keys() -> dict[str, Any]:
    """Record column -> the value records written before that column existed implied (for trained cells)."""
    implied = {train_column(f.name): f.metadata["implied"] for f in fields(TrainConfig) if "implied" in f.metadata}
    return implied


def implied_cell_keys() -> dict[str, Any]:
    """Key column -> the value every record written before that column existed implied (any cell)."""
    return {f.name: f.metadata["implied"] for f in fields(CellConfig)
            if f.metadata.get("key") and "implied" in f.metadata}


def key_columns() -> list[str]:
    """The columns that identify a cell: comparisons match cells on these, tables group on them."""
    cell = [f.name for f in fields(CellConfig) if f.metadata.get("key")]
    recipe = [train_column(f.name) for f in fields(TrainConfig) if f.metadata.get("key")]
    return [*cell, *recipe, "seed", *PLAIN_COLUMNS]


def with_training(cell: CellConfig, data: DataChoice, recipe: TrainConfig) -> CellConfig:
    """``cell`` trained on ``data`` with ``recipe`` (and its class count)."""
    return replace(
        cell,
        dataset=data.name,
        data_root=data.root,
        dataset_options=data.options,
        train_split=data.train_split,
        val_split=data.val_split,
        eval_split=data.eval_split,
        num_classes=data.num_classes,
        train=recipe,
    )


def with_inference(cell: CellConfig, inference: InferenceConfig | None) -> CellConfig:
    """``cell`` with inference add-ons (a plain configuration is stored as None)."""
    return replace(cell, inference=None if inference is None or inference.is_plain else inference)


def with_timing(cell: CellConfig, timing: TimingConfig | None) -> CellConfig:
    return replace(cell, timing=timing)
