"""The benchmark's configuration tree, and its two parsers: a suite's TOML and a command's flags.

A benchmark is a :class:`BenchmarkSpec`: frozen sections (grid, data, train,
measure, inference, execution, compare), each setting one field. A field's
metadata (made by :func:`setting`) holds its help text and, where it differs
from the field's name, its flag; its type and default are the field's own.
From these alone come:

- the suite's schema: ``[train] label_smoothing = 0.1`` is checked against
  the field's type and the rule of :mod:`segbench.checks` for its name;
- the commands' options: :func:`options` adds one Typer option per field to
  a command (``--label-smoothing``), so a new setting is one field;
- precedence: a command-line value given wins over the suite, which wins
  over the field's default (:func:`merge`).

``grid`` is an anonymous suite: its flags fill the same sections, and
:meth:`BenchmarkSpec.cells` is the one grid expansion.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

import typer

from segbench.checks import AT_LEAST_0, AT_LEAST_1, FRACTION, RULES, Rule, problem
from segbench.recipe import BUDGETED_RECIPE, SHORT_RECIPE
from segbench.rounds import DEFAULT_ROUNDS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
#: A dataclass instance (a section), for :func:`dataclasses.replace`.
D = TypeVar("D", bound="DataclassInstance")
F = TypeVar("F", bound=Callable[..., Any])
#: What :func:`options` hands a command: per section, the values the user gave.
Given = dict[type, dict[str, Any]]


def setting(default: Any, help: str, *, flag: str | None = None, param: str | None = None,
            cli: bool = True, panel: str | None = None, rule: Rule | None = None) -> Any:
    """A section field: its default, its help, its flag (default ``--<name>``) and rule; lists are comma lists.

    ``rule`` is the value's rule where :data:`segbench.checks.RULES` has none for the name.
    """
    return field(default=default, metadata=setting_metadata(help, flag=flag, param=param, cli=cli,
                                                            panel=panel, rule=rule))


def setting_metadata(help: str, *, flag: str | None = None, param: str | None = None,
                     cli: bool = True, panel: str | None = None, rule: Rule | None = None) -> dict[str, Any]:
    """The metadata of a section field (see :func:`setting`), for a field made with ``field()`` itself."""
    return {"help": help, "flag": flag, "param": param, "cli": cli, "panel": panel, "rule": rule}


class SpecError(ValueError):
    """A setting that is wrong: ``section`` and ``key`` say where; ``str()`` is the one-line reason."""

    def __init__(self, message: str, section: str, key: str | None = None) -> None:
        super().__init__(message)
        self.section, self.key = section, key


@contextmanager
def at(section: str, key: str | None = None) -> Iterator[None]:
    """Turn a ValueError raised inside into a :class:`SpecError` of ``[section] key``."""
    try:
        yield
    except SpecError:
        raise
    except (ValueError, FileNotFoundError) as e:
        raise SpecError(str(e), section, key) from None


# --------------------------------------------------------------------------- the sections

DATA, TRAINING, MEASUREMENT, INFERENCE, EXECUTION = "Data", "Training", "Measurement", "Inference add-ons", "Execution"


@dataclass(frozen=True)
class SuiteSpec:
    section = "suite"
    name: str = setting("", "The suite's name (its run directories are named after it).", cli=False)
    description: str = setting("", "One line on what the suite is for.", cli=False)


@dataclass(frozen=True)
class GridSpec:
    section = "grid"
    encoders: tuple[str, ...] | None = setting(None, "Comma list of encoders (default: resnet18,mobilenet).")
    decoders: tuple[str, ...] | None = setting(None, "Comma list of decoders (default: skip,unet).")
    models: tuple[str, ...] | None = setting(
        None, "Comma list of whole networks (enet, erfnet, ...) or named pairs (shuffleseg); alone, the grid is "
        "these models only. See `segbench list models`.")
    sizes: tuple[str, ...] = setting(
        ("360x480",), "Input size HxW (or N for a square) for the cost columns; comma list allowed.", flag="--size")
    batch_sizes: tuple[int, ...] = setting((1,), "Batch size for latency and memory; comma list allowed.",
                                           flag="--batch-size")
    precisions: tuple[str, ...] = setting(("fp32",), "fp32, fp16 or bf16 (autocast); comma list allowed.",
                                          flag="--precision")
    devices: tuple[str, ...] = setting(("auto",), "auto, cpu or cuda.", flag="--device")
    num_classes: int = setting(21, "Classes, for --profile-only (else the dataset's).")
    channels_last: bool = setting(False, "Run in channels_last memory format.")
    runtimes: tuple[str, ...] = setting(
        ("eager",), "How the timed forward runs: eager, compile, cudagraphs, onnxruntime (or a plug-in's); comma "
        "list allowed. Each non-eager runtime is checked against eager first. See `segbench list runtimes`.",
        flag="--runtime")
    compile_mode: str = setting("default", "torch.compile mode of --runtime compile: default, reduce-overhead, "
                                "max-autotune or max-autotune-no-cudagraphs.")
    threads: int | None = setting(None, "CPU threads (torch.set_num_threads).")
    pretrained: bool = setting(False, "Load cached ImageNet weights (no download).")


@dataclass(frozen=True)
class DataSpec:
    section = "data"
    dataset: str = setting("synthetic", "Dataset to train and score on.", panel=DATA)
    root: str | None = setting(None, "Dataset root folder.", flag="--data-root", panel=DATA)
    train_split: str = setting("train", "Split to train on.", panel=DATA)
    val_split: str | None = setting("val", "Split to validate on each epoch ('' for none).", panel=DATA)
    eval_split: str | None = setting(None, "Split to report (default test, else val).", panel=DATA)
    options: dict[str, Any] = field(default_factory=dict, metadata=setting_metadata(
        "Keyword options of the dataset (e.g. the synthetic set's size).", cli=False))

    def choice(self) -> Any:
        """The checked dataset (:class:`segbench.config.DataChoice`): names, splits and files exist."""
        from segbench.options import data_choice

        return data_choice(self.dataset, self.root, self.train_split, self.val_split, self.eval_split,
                           self.options or None)


@dataclass(frozen=True)
class TrainSpec:
    section = "train"
    epochs: int | None = setting(None, "Budget in epochs.", panel=TRAINING)
    iterations: int | None = setting(
        None, f"Budget in iterations (without a budget: the short recipe, {SHORT_RECIPE.iterations}).", panel=TRAINING)
    time_budget: float | None = setting(None, "Budget in seconds of training.", panel=TRAINING)
    batch_size: int | None = setting(
        None, f"Training batch size (default: {SHORT_RECIPE.batch_size} in the short recipe, else "
        f"{BUDGETED_RECIPE.batch_size}).", flag="--train-batch-size", panel=TRAINING)
    crop_size: str | None = setting(
        None, "Training crop HxW (default: the dataset's, 64x64 for synthetic; else the image size).", panel=TRAINING)
    optimizer: str = setting("adamw", "adamw or sgd (momentum 0.9).", panel=TRAINING)
    lr: float | None = setting(
        None, f"Base LR (default: {SHORT_RECIPE.lr['adamw']:g} adamw in the short recipe, else "
        f"{BUDGETED_RECIPE.lr['adamw']:g} adamw; {BUDGETED_RECIPE.lr['sgd']:g} sgd).", panel=TRAINING)
    weight_decay: float = setting(1e-4, "Weight decay.", panel=TRAINING)
    warmup_iters: int | None = setting(
        None, f"Linear LR warm-up iterations before poly decay (default: {SHORT_RECIPE.warmup_iters} in the short "
        f"recipe, else {BUDGETED_RECIPE.warmup_iters}).",
        flag="--lr-warmup", panel=TRAINING)
    grad_clip: float | None = setting(
        None, f"Clip the gradients' global L2 norm to this before each step (default: {SHORT_RECIPE.grad_clip_norm:g} "
        "in the short recipe, else none; 0: none).", panel=TRAINING, rule=AT_LEAST_0)
    class_weights: bool = setting(False, "Median-frequency class weights.", panel=TRAINING)
    loss: str = setting("ce", "Training loss (see `segbench list losses`).", panel=TRAINING)
    label_smoothing: float = setting(0.0, "Label smoothing of the cross-entropy loss (0: none).", panel=TRAINING,
                                     rule=FRACTION)
    seeds: tuple[int, ...] = setting((0,), "Random seed; a comma list trains every cell once per seed.",
                                     flag="--seed", panel=TRAINING)
    deterministic: bool = setting(False, "Deterministic algorithms (slower).", panel=TRAINING)
    workers: int = setting(0, "Data loader worker processes.", panel=TRAINING)
    nproc_per_node: int = setting(
        1, "Processes training one model data-parallel (torchrun-style; one per GPU). The batch size stays global.",
        flag="--nproc-per-node", panel=TRAINING)
    #: Training's AMP precision and memory format: flags of ``train`` only (in ``grid`` they are the grid's).
    precision: str = setting("fp32", "fp32, fp16 or bf16 (AMP).", flag="--train-precision", cli=False,
                             panel=TRAINING)
    channels_last: bool = setting(False, "channels_last memory format.", flag="--train-channels-last", cli=False,
                                  panel=TRAINING)
    log_every: int = setting(10, "Iterations between two lines of the iteration log (train_log.jsonl).",
                             panel=TRAINING, rule=AT_LEAST_1)
    tensorboard: str | None = setting(
        None, "Folder for TensorBoard event files (one sub-folder per cell): loss, LR, val mIoU and images.",
        panel=TRAINING)

    def recipe(self, seed: int) -> Any:
        """The :class:`segbench.recipe.TrainConfig` for ``seed``; without a budget, the built-in short recipe."""
        from segbench.grid import parse_size
        from segbench.options import recipe_defaults
        from segbench.recipe import TrainConfig
        from segbench.train_log import require_tensorboard

        filled = recipe_defaults(self.epochs, self.iterations, self.time_budget, self.optimizer, self.lr,
                                 self.warmup_iters, self.batch_size, self.grad_clip)
        return TrainConfig(
            **filled, epochs=self.epochs, time_s=self.time_budget,
            crop_size=parse_size(self.crop_size) if self.crop_size else None, optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            class_weights=self.class_weights, precision=self.precision, channels_last=self.channels_last, seed=seed,
            deterministic=self.deterministic, num_workers=self.workers, nproc_per_node=self.nproc_per_node,
            loss=self.loss, label_smoothing=self.label_smoothing, log_every=self.log_every,
            tensorboard=self.tensorboard and require_tensorboard(self.tensorboard),
        )


@dataclass(frozen=True)
class MeasureSpec:
    section = "measure"
    warmup_iters: int | None = setting(None, "Warm-up iterations (default by device).", panel=MEASUREMENT)
    min_iters: int | None = setting(None, "Minimum timed iterations per cell, shared by its rounds (at least 3 "
                                    "a round).", panel=MEASUREMENT)
    min_time: float | None = setting(None, "Minimum timed seconds per cell, shared by its rounds.",
                                     panel=MEASUREMENT)
    rounds: int = setting(
        DEFAULT_ROUNDS, "Latency rounds per cell, interleaved across the grid's cells (round 2 over every cell, "
        "then round 3 ...); each round's median is one sample of the gate's test.", panel=MEASUREMENT)

    def timing(self, device: str) -> Any:
        """The :class:`~segbench.measure.latency.TimingConfig` of one round on ``device``: its defaults, with
        these settings, the timed budget shared by the rounds."""
        from segbench.measure.latency import TimingConfig
        from segbench.measure.profile import resolve_device

        base = TimingConfig.for_device(resolve_device(device))
        return TimingConfig(
            warmup_iters=base.warmup_iters if self.warmup_iters is None else self.warmup_iters,
            warmup_s=base.warmup_s if self.min_time is None else min(base.warmup_s, self.min_time),
            min_iters=base.min_iters if self.min_iters is None else self.min_iters,
            min_s=base.min_s if self.min_time is None else self.min_time,
            max_s=base.max_s if self.min_time is None else max(base.max_s, self.min_time),
        ).per_round(self.rounds)


@dataclass(frozen=True)
class InferenceSpec:
    section = "inference"
    tta_scales: tuple[float, ...] | None = setting(
        None, "Test-time scales, e.g. 0.75,1,1.25 (softmax averaged).", panel=INFERENCE)
    flip: bool = setting(False, "Also average the mirrored input's prediction.", flag="--flip", panel=INFERENCE)
    crf: bool = setting(False, "Refine with a convolutional dense CRF (7x7 window).", flag="--crf", panel=INFERENCE)
    crf_iterations: int = setting(5, "Mean-field iterations of the CRF.", panel=INFERENCE)
    mc_samples: int = setting(0, "Monte-Carlo dropout passes (0: off; needs dropout).", panel=INFERENCE)
    attention_scales: tuple[float, ...] | None = setting(
        None, "Train with attention to scale over these scales, e.g. 1,0.5.", panel=INFERENCE)

    def config(self) -> Any:
        """The :class:`segbench.inference.InferenceConfig` (one-line ValueError for impossible values)."""
        from segbench.inference import InferenceConfig

        return InferenceConfig(tta_scales=self.tta_scales or (1.0,), flip=self.flip, crf=self.crf,
                               crf_iterations=self.crf_iterations, mc_samples=self.mc_samples,
                               attention_scales=self.attention_scales)


@dataclass(frozen=True)
class ExecutionSpec:
    section = "execution"
    executor: str | None = setting(None, "local, subprocess or ray (default: subprocess on CUDA, else local).",
                                   panel=EXECUTION)
    timeout: float | None = setting(None, "Seconds a cell may take before it is killed (subprocess, ray).",
                                    panel=EXECUTION)
    ray_address: str | None = setting(None, "Ray cluster to run on (default: a local instance).", panel=EXECUTION)
    max_retries: int | None = setting(None, "Times a cell whose Ray worker died is run again (default 2).",
                                      panel=EXECUTION)
    concurrency: int | None = setting(
        None, "Cells run at once per machine on CPU (ray; default 1, so timings never overlap).", panel=EXECUTION)

    def executor_for(self, device: str) -> Any:
        """The executor these settings ask for, on ``device`` (a one-line ValueError for an impossible one)."""
        from segbench.executors import default_executor, make_executor
        from segbench.measure.profile import resolve_device

        name = self.executor or default_executor(resolve_device(device).type)
        return make_executor(name, timeout=self.timeout, ray_address=self.ray_address,
                             max_retries=self.max_retries, concurrency=self.concurrency)


@dataclass(frozen=True)
class CompareSpec:
    """The gate's tolerances (see :class:`segbench.compare.Tolerances`); unset ones keep its defaults."""

    section = "compare"
    baseline: str | None = setting(None, "Baseline run directory the suite is compared with.", cli=False)
    latency_factor: float | None = setting(None, "Latency ratio current/baseline allowed.", cli=False)
    memory_ratio: float | None = setting(None, "Memory ratio current/baseline allowed.", cli=False)
    miou_drop: float | None = setting(None, "mIoU points that may be lost.", cli=False)
    latency_gate: bool | None = setting(None, "False: latency findings are informational.", cli=False)
    alpha: float | None = setting(None, "Significance level of the latency test.", cli=False)
    fail_on_removed: bool | None = setting(
        None, "A cell missing from the current run is a regression (default true).", cli=False)
    noisy_iqr: float | None = setting(None, "Latency IQR / median above which a cell is not comparable.", cli=False)
    memory_gate: bool | None = setting(None, "False: memory findings are informational.", cli=False)
    memory_slack_mib: float | None = setting(None, "MiB of memory growth always allowed.", cli=False)

    def given(self) -> dict[str, Any]:
        """The settings a suite gave (its ``[compare]`` table as written)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


SECTIONS: tuple[type, ...] = (SuiteSpec, GridSpec, DataSpec, TrainSpec, MeasureSpec, InferenceSpec, ExecutionSpec,
                              CompareSpec)
#: Sections that may repeat as ``[[section]]``: each [[inference]] is one variant of every cell.
REPEATABLE = ("inference",)
#: Each section's required keys; a tuple inside means "any one of these".
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {"grid": (("encoders", "decoders", "models"),)}


@dataclass(frozen=True)
class BenchmarkSpec:
    """A whole benchmark. ``data`` None measures costs only; ``train`` None (with data) uses the defaults."""

    suite: SuiteSpec = SuiteSpec()
    grid: GridSpec = GridSpec()
    data: DataSpec | None = None
    train: TrainSpec | None = None
    measure: MeasureSpec = MeasureSpec()
    inference: tuple[InferenceSpec, ...] = ()
    execution: ExecutionSpec = ExecutionSpec()
    compare: CompareSpec = CompareSpec()

    def cells(self) -> list[Any]:
        """Every cell: model x size x batch x precision x runtime, per device, x seed, x inference variant.

        Raises :class:`SpecError` naming the section (and key) of the first mistake.
        """
        from segbench.config import with_inference, with_timing, with_training
        from segbench.grid import expand_grid, parse_size

        grid = self.grid
        with at("grid", "sizes"):
            sizes = [parse_size(s) for s in grid.sizes]
        with at("data"):
            choice = self.data.choice() if self.data else None
        train = self.train or TrainSpec()
        with at("train", "loss"):
            from segbench.losses import check_loss

            check_loss(train.loss)
        with at("train"):
            recipes = [train.recipe(seed) for seed in train.seeds]
        if self.train and not choice:
            raise SpecError('a training recipe needs a [data] table (e.g. dataset = "synthetic")', "train")
        cells = []
        with at("grid"):
            for device in dict.fromkeys(grid.devices):  # a device named twice is one
                timing = self.measure.timing(device)
                cells += [with_timing(c, timing) for c in expand_grid(
                    grid.encoders, grid.decoders, models=grid.models, sizes=sizes, batch_sizes=grid.batch_sizes,
                    precisions=grid.precisions, device=device,
                    num_classes=choice.num_classes if choice else grid.num_classes,
                    channels_last=grid.channels_last, threads=grid.threads, pretrained=grid.pretrained,
                    runtimes=grid.runtimes, compile_mode=grid.compile_mode,
                )]
        if choice:
            cells = [with_training(c, choice, r) for c, r in itertools.product(cells, recipes)]
        with at("inference"):
            variants = [v.config() for v in self.inference] or [None]
        return [with_inference(c, v) for c in cells for v in variants]


# --------------------------------------------------------------------------- types


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``int | None`` -> (int, True)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _item_type(hint: Any) -> Any | None:
    """``tuple[int, ...]`` -> int; None for a scalar."""
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0]
    return None


def _toml_type_name(hint: Any) -> str:
    inner, _ = _unwrap_optional(hint)
    item = _item_type(inner)
    if item is not None:
        return f"list[{item.__name__}]"
    if typing.get_origin(inner) is dict or inner is dict:
        return "dict"
    return "a number" if inner is float else inner.__name__


def _is_type(value: Any, expected: Any) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(expected) is dict or expected is dict:
        return isinstance(value, dict)
    return isinstance(value, expected)


def _from_toml(value: Any, hint: Any) -> Any:
    """``value`` as the field's type (lists become tuples), or a ValueError naming the type wanted."""
    inner, _ = _unwrap_optional(hint)
    item = _item_type(inner)
    ok = (isinstance(value, list) and all(_is_type(v, item) for v in value)) if item else _is_type(value, inner)
    if not ok:
        raise ValueError(f"must be {_toml_type_name(hint)}, got {value!r}")
    if item is float:
        return tuple(float(v) for v in value)
    if item is not None:
        return tuple(value)
    return float(value) if inner is float else value


def _from_flag(text: str, hint: Any, flag: str) -> Any:
    """A flag's text as the field's type: a list split on commas, numbers parsed, each error one line."""
    inner, _ = _unwrap_optional(hint)
    item = _item_type(inner)
    if item is None and inner in (int, float):  # typer has parsed these already; the Python API may not have
        try:
            return inner(text)
        except ValueError:
            raise ValueError(f"{flag} takes {'a whole number' if inner is int else 'a number'}; not '{text}'") from None
    if item is None:
        return text
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if item is str:
        return tuple(parts) if parts or not text.strip() else ()
    try:
        return tuple(item(p) for p in parts)
    except ValueError:
        example = "0.75,1,1.25" if item is float else "0,1"
        kind = "numbers" if item is float else "whole numbers"
        raise ValueError(f"{flag} takes a comma list of {kind}, e.g. {example}; not '{text}'") from None


# --------------------------------------------------------------------------- the TOML parser


def _rule(cls: type, name: str) -> Rule | None:
    (f,) = (f for f in fields(cls) if f.name == name)
    return f.metadata.get("rule")


def section_from_toml(cls: type[T], table: dict[str, Any]) -> T:
    """A section from its TOML table: unknown keys, wrong types and broken rules are :class:`SpecError`."""
    name = cls.section  # type: ignore[attr-defined]
    hints = _hints(cls)
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise SpecError(f"unknown key; valid: {', '.join(known)}", name, key)
        try:
            values[key] = _from_toml(value, hints[key])
        except ValueError as e:
            raise SpecError(str(e), name, key) from None
        broken = problem(key, value, _rule(cls, key))  # the rule the same option has on the command line
        if broken:
            raise SpecError(f"{broken}, got {value!r}", name, key)
    for alternatives in REQUIRED.get(name, ()):
        if not any(k in table for k in alternatives):
            raise SpecError("missing required key " + " or ".join(f"'{k}'" for k in alternatives), name)
    return cls(**values)


def spec_from_toml(raw: dict[str, Any]) -> BenchmarkSpec:
    """A :class:`BenchmarkSpec` from a parsed suite; the first mistake is a :class:`SpecError`."""
    by_name = {cls.section: cls for cls in SECTIONS}  # type: ignore[attr-defined]
    parts: dict[str, Any] = {}
    for name, body in raw.items():
        if name not in by_name:
            raise SpecError(f"unknown section; valid: {', '.join(by_name)}", name)
        tables = body if name in REPEATABLE and isinstance(body, list) else [body]
        for table in tables:
            if not isinstance(table, dict):
                raise SpecError(f"'{name}' must be a [{name}] table", name)
        sections: list[object] = [section_from_toml(by_name[name], t) for t in tables]
        parts[name] = tuple(sections) if name in REPEATABLE else sections[0]
    if "grid" not in parts:
        parts["grid"] = section_from_toml(GridSpec, {})  # raises: a grid is required
    return BenchmarkSpec(**parts)


# --------------------------------------------------------------------------- the command-line parser


@dataclass(frozen=True)
class Flag:
    """One generated option: the section and field it sets, and how it reads on the command line."""

    section: type
    field: Field[Any]
    param: str
    flag: str


def _flags(sections: tuple[type, ...], enable: tuple[str, ...], rename: dict[str, str],
           exclude: tuple[str, ...]) -> list[Flag]:
    flags = []
    for cls in sections:
        for f in fields(cls):
            meta = f.metadata
            if not (meta.get("cli") or f.name in enable) or f.name in exclude:
                continue
            flag = rename.get(f.name) or meta.get("flag") or "--" + f.name.replace("_", "-")
            param = meta.get("param") or flag.removeprefix("--").replace("-", "_")
            flags.append(Flag(cls, f, param, flag))
    return flags


def _annotation(flag: Flag) -> tuple[Any, Any]:
    """The Typer annotation of a generated option, and its default: None, "not given"."""
    f, meta = flag.field, flag.field.metadata
    hint, _ = _unwrap_optional(_hints(flag.section)[f.name])
    cli_type: Any = str | None if _item_type(hint) is not None else hint | None
    names = [flag.flag] if meta.get("flag") or hint is not bool else []
    shown = _shown_default(f)
    text = meta["help"] + (rf" \[default: {shown}]" if shown is not None else "")  # escaped: not rich markup
    option = typer.Option(*names, help=text, rich_help_panel=meta.get("panel"), show_default=False)
    return Annotated[cli_type, option], None


def _shown_default(f: Field[Any]) -> str | None:
    """The default as ``--help`` shows it (the option's own default is None: "not given")."""
    if f.default is MISSING or f.default is None or f.default is False or f.default == "":
        return None
    if isinstance(f.default, tuple):
        return ",".join(str(v) for v in f.default)
    return str(f.default)


#: Where a command's generated options are listed on its click context (:func:`segbench.checks.check_options`
#: checks the others; these are checked here, on their parsed values, by their field's rule).
GENERATED = "segbench.generated_options"


def _is_click_context(value: Any) -> bool:
    """Whether ``value`` is the command's context: typer hands over its own click's ``Context``, which
    ``typer.Context`` subclasses, so an ``isinstance(value, typer.Context)`` misses it."""
    return all(hasattr(value, name) for name in ("meta", "params", "command", "invoke"))


def options(*sections: type, enable: tuple[str, ...] = (), rename: dict[str, str] | None = None,
            exclude: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Give a Typer command one option per field of ``sections``; it receives what was typed as ``given``.

    ``given`` maps each section class to ``{field: value}`` of the options the
    user gave, parsed into the field's type and checked by the rule of
    :mod:`segbench.checks` for the field's name (a :class:`SpecError` names the
    flag); what is not given comes from a suite or the field's default (see
    :func:`merge`). ``enable`` names fields that are off the command line
    elsewhere, ``exclude`` fields this command has no use for; ``rename`` gives
    a field another flag in this command.
    """
    def decorate(command: F) -> F:
        flags = _flags(sections, enable, rename or {}, exclude)
        signature = inspect.signature(command)
        resolved = typing.get_type_hints(command, include_extras=True)  # in the command's own module
        kept = [p.replace(annotation=resolved.get(p.name, p.annotation))
                for p in signature.parameters.values() if p.name != "given"]
        added = []
        for flag in flags:
            annotation, default = _annotation(flag)
            added.append(inspect.Parameter(flag.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                                           annotation=annotation))
        by_param = {f.param: f for f in flags}

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for value in kwargs.values():  # the command's click context, for checks.check_options
                if _is_click_context(value):
                    value.meta[GENERATED] = set(by_param)
            given: dict[type, dict[str, Any]] = {cls: {} for cls in sections}
            for param in [p for p in kwargs if p in by_param]:
                flag, value = by_param[param], kwargs.pop(param)
                if value is not None:
                    given[flag.section][flag.field.name] = _parsed(flag, value)
            return command(*args, given=given, **kwargs)

        params = [*(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is p.POSITIONAL_OR_KEYWORD else p
                    for p in kept), *added]
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**{p.name: p.annotation for p in params}, "return": resolved.get("return")}
        del wrapper.__wrapped__  # typer reads the signature above, not the command's own
        return typing.cast(F, wrapper)

    return decorate


def _parsed(flag: Flag, value: Any) -> Any:
    """A typed-in value in its field's type, checked by its field's rule; a :class:`SpecError` names the flag."""
    section = flag.section.section  # type: ignore[attr-defined]
    try:
        if isinstance(value, str):
            value = _from_flag(value, _hints(flag.section)[flag.field.name], flag.flag)
    except ValueError as e:
        raise SpecError(str(e), section, flag.field.name) from None
    # The rule of the option as typed (``batch_size``: each item of ``--batch-size 1,8``), else the field's.
    if flag.param in RULES:
        items = value if isinstance(value, tuple) else (value,)
        checked = [(problem(flag.param, item), item) for item in items]
    else:
        listed = list(value) if isinstance(value, tuple) else value
        checked = [(problem(flag.field.name, listed, flag.field.metadata.get("rule")), value)]
    for broken, item in checked:
        if broken:
            raise SpecError(f"{flag.flag} {broken}, not {item!r}", section, flag.field.name)
    return value


def from_flags(cls: type[T], values: dict[str, Any]) -> T:
    """A section from option values as typed (``{"tta_scales": "0.75,1"}``), parsed and checked as the CLI does."""
    flags = {f.field.name: f for f in _flags((cls,), tuple(values), {}, ())}
    unknown = sorted(set(values) - set(flags))
    if unknown:
        raise SpecError(f"unknown setting(s) {', '.join(unknown)}", cls.section)  # type: ignore[attr-defined]
    return cls(**{name: _parsed(flags[name], value) for name, value in values.items()})


def merge(section: D | None, flags: dict[str, Any], cls: type[D]) -> D:
    """``section`` (a suite's, or the defaults) with the command-line values in ``flags`` winning."""
    return replace(section if section is not None else cls(), **flags)
