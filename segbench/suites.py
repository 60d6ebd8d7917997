"""Suites: a whole benchmark described in one TOML file, checked before anything runs.

A suite names its grid, its dataset and training recipe, its measurement
settings and its comparison tolerances::

    [suite]    name, description
    [grid]     encoders, decoders, models, sizes, batch_sizes, precisions, devices, num_classes, ...
    [data]     dataset, root, train_split, val_split, eval_split, options   (absent: costs only)
    [train]    iterations | epochs | time_budget, batch_size, optimizer, lr, loss, seeds, ...
    [measure]  warmup_iters, min_iters, min_time
    [inference] tta_scales, flip, crf, crf_iterations, mc_samples, attention_scales   (absent: plain model;
               several [[inference]] tables: every cell once per variant, an empty one being the plain model)
    [compare]  baseline, latency_factor, memory_ratio, miou_drop, latency_gate, ...
    [execution] executor, timeout, ray_address, max_retries, concurrency   (command-line options win)

Any mistake (a TOML syntax error, an unknown section or key, a wrong type, an
unknown encoder) is one line naming the file, the key and, where it can be
found, the line.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from segbench.cell import CellConfig, with_inference, with_training
from segbench.checks import problem
from segbench.executors import EXECUTORS
from segbench.grid import expand_grid, parse_size
from segbench.inference import InferenceConfig
from segbench.inputs import read_text
from segbench.losses import DEFAULT_LOSS, check_loss
from segbench.measure.latency import TimingConfig
from segbench.measure.profile import resolve_device
from segbench.models.catalog import model_label
from segbench.options import data_choice, train_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"

#: Every key a suite may hold, with its type. ``list[str]`` etc. are checked item by item.
SCHEMA: dict[str, dict[str, Any]] = {
    "suite": {"name": str, "description": str},
    "grid": {
        "encoders": list[str], "decoders": list[str], "models": list[str], "sizes": list[str], "batch_sizes": list[int],
        "precisions": list[str], "devices": list[str], "num_classes": int, "channels_last": bool,
        "threads": int, "pretrained": bool,
    },
    "data": {
        "dataset": str, "root": str, "train_split": str, "val_split": str, "eval_split": str, "options": dict,
    },
    "train": {
        "epochs": int, "iterations": int, "time_budget": float, "batch_size": int, "crop_size": str,
        "optimizer": str, "lr": float, "weight_decay": float, "warmup_iters": int, "class_weights": bool,
        "seeds": list[int], "deterministic": bool, "workers": int, "nproc_per_node": int, "loss": str,
    },
    "measure": {"warmup_iters": int, "min_iters": int, "min_time": float},
    "inference": {
        "tta_scales": list[float], "flip": bool, "crf": bool, "crf_iterations": int, "mc_samples": int,
        "attention_scales": list[float],
    },
    "compare": {
        "baseline": str, "latency_factor": float, "memory_ratio": float, "miou_drop": float,
        "latency_gate": bool, "alpha": float, "fail_on_removed": bool, "memory_gate": bool,
        "memory_slack_mib": float,
    },
    "execution": {"executor": str, "timeout": float, "ray_address": str, "max_retries": int, "concurrency": int},
}  # fmt: skip
#: Each section's required keys; a tuple inside means "any one of these".
REQUIRED: dict[str, tuple[str | tuple[str, ...], ...]] = {"grid": (("encoders", "decoders", "models"),)}
#: Sections that may repeat as ``[[section]]``: each [[inference]] is one variant of every cell.
REPEATABLE = ("inference",)


class SuiteError(ValueError):
    """A malformed suite; ``str()`` is one line naming the file, the key and the line."""


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    cells: list[CellConfig]
    timing: TimingConfig
    compare: dict[str, Any] = field(default_factory=dict)
    #: The [execution] table: how the cells run (executor, timeout, ray_address, max_retries, concurrency).
    execution: dict[str, Any] = field(default_factory=dict)

    def select(self, include: list[str] | None = None, exclude: list[str] | None = None) -> list[CellConfig]:
        """Cells whose id or model label (``encoder+decoder``, or a whole network's name) matches any
        ``include`` glob and no ``exclude`` glob."""

        def matches(cell: CellConfig, patterns: list[str]) -> bool:
            names = (cell.cell_id, model_label(cell.encoder, cell.decoder))
            return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)

        return [
            c for c in self.cells
            if (not include or matches(c, include)) and not (exclude and matches(c, exclude))
        ]


def resolve_suite_path(name_or_path: str) -> Path:
    """``smoke`` means suites/smoke.toml (here, else in the checkout); a suffix or a slash means a path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and "/" not in name_or_path:
        local = Path("suites") / f"{name_or_path}.toml"
        path = local if local.is_file() else SUITES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.toml")))
        raise SuiteError(f"suite '{name_or_path}' not found at {path}; shipped suites: {known}")
    return path


def _line_of(text: str, section: str, key: str | None = None) -> int | None:
    """The line of ``[section]`` (or of ``key =`` inside it) in the TOML text, 1-based."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[\[?([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            if key is None and current == section:
                return number
        elif current == section and key is not None and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _type_name(expected: Any) -> str:
    if getattr(expected, "__origin__", None) is not None:  # list[str] and the like
        return str(expected)
    return "a number" if expected is float else expected.__name__


def _check_type(value: Any, expected: Any) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if getattr(expected, "__origin__", None) is list:
        (item,) = expected.__args__
        return isinstance(value, list) and all(_check_type(v, item) for v in value)
    return isinstance(value, expected)


def validate(raw: dict[str, Any], text: str, path: Path) -> None:
    """Unknown sections and keys, wrong types and missing required keys, as one-line errors."""

    def fail(message: str, section: str, key: str | None = None) -> SuiteError:
        line = _line_of(text, section, key)
        where = f"[{section}]" + (f" {key}" if key else "")
        return SuiteError(f"{path}: {where}: {message}" + (f" (line {line})" if line else ""))

    for section, body in raw.items():
        if section not in SCHEMA:
            raise fail(f"unknown section; valid: {', '.join(SCHEMA)}", section)
        for table in body if section in REPEATABLE and isinstance(body, list) else [body]:
            if not isinstance(table, dict):
                raise SuiteError(f"{path}: '{section}' must be a [{section}] table")
            for key, value in table.items():
                if key not in SCHEMA[section]:
                    raise fail(f"unknown key; valid: {', '.join(SCHEMA[section])}", section, key)
                expected = SCHEMA[section][key]
                if not _check_type(value, expected):
                    raise fail(f"must be {_type_name(expected)}, got {value!r}", section, key)
                broken = problem(key, value)  # the rule the same option has on the command line
                if broken:
                    raise fail(f"{broken}, got {value!r}", section, key)
    for section, keys in REQUIRED.items():
        for key in keys:
            alternatives = key if isinstance(key, tuple) else (key,)
            if not any(k in raw.get(section, {}) for k in alternatives):
                wanted = " or ".join(f"'{k}'" for k in alternatives)
                raise fail(f"missing required key {wanted}", section)


def load_suite(name_or_path: str) -> Suite:
    """Parse, validate and expand a suite into its cells; raises :class:`SuiteError` on any mistake."""
    path = resolve_suite_path(name_or_path)
    text = read_text(path, "suite")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{path}: not valid TOML: {e}") from None
    validate(raw, text, path)
    grid, data, train, measure = (raw.get(k, {}) for k in ("grid", "data", "train", "measure"))

    def at(section: str, key: str | None = None) -> str:
        line = _line_of(text, section, key)
        return f"{path}: [{section}]" + (f" {key}" if key else "") + (f" (line {line})" if line else "")

    try:
        sizes = [parse_size(s) for s in grid.get("sizes", ["360x480"])]
    except ValueError as e:
        raise SuiteError(f"{at('grid', 'sizes')}: {e}") from None
    try:
        choice = None
        if data:
            choice = data_choice(
                data.get("dataset", "synthetic"), data.get("root"), data.get("train_split", "train"),
                data.get("val_split", "val"), data.get("eval_split"), data.get("options"),
            )
    except (ValueError, FileNotFoundError) as e:
        raise SuiteError(f"{at('data')}: {e}") from None
    cells: list[CellConfig] = []
    try:
        for device in dict.fromkeys(grid.get("devices", ["auto"])):  # a device named twice is one
            cells += expand_grid(
                grid.get("encoders"), grid.get("decoders"), models=grid.get("models"), sizes=sizes,
                batch_sizes=grid.get("batch_sizes", [1]),
                precisions=grid.get("precisions", ["fp32"]), device=device,
                num_classes=choice.num_classes if choice else grid.get("num_classes", 21),
                channels_last=grid.get("channels_last", False), threads=grid.get("threads"),
                pretrained=grid.get("pretrained", False),
            )
    except ValueError as e:
        raise SuiteError(f"{at('grid')}: {e}") from None
    try:
        check_loss(train.get("loss", DEFAULT_LOSS))
    except ValueError as e:
        raise SuiteError(f"{at('train', 'loss')}: {e}") from None
    try:
        recipes = [_recipe(train, seed) for seed in train.get("seeds", [0])]
    except ValueError as e:
        raise SuiteError(f"{at('train')}: {e}") from None
    if train and not choice:
        raise SuiteError(f"{at('train')}: a training recipe needs a [data] table (e.g. dataset = \"synthetic\")")
    if choice:
        cells = [with_training(c, choice, r) for c, r in itertools.product(cells, recipes)]
    if "inference" in raw:
        variants = raw["inference"] if isinstance(raw["inference"], list) else [raw["inference"]]
        configs = [_inference(v, at("inference")) for v in variants]
        cells = [with_inference(c, config) for c in cells for config in configs]
    if not cells:
        raise SuiteError(f"{path}: the suite has no cell")
    device = resolve_device(grid.get("devices", ["auto"])[0])
    base = TimingConfig.for_device(device)
    timing = replace(
        base,
        warmup_iters=measure.get("warmup_iters", base.warmup_iters),
        min_iters=measure.get("min_iters", base.min_iters),
        min_s=measure.get("min_time", base.min_s),
        warmup_s=min(base.warmup_s, measure.get("min_time", base.warmup_s)),
    )
    execution = raw.get("execution", {})
    if "executor" in execution and execution["executor"] not in EXECUTORS:
        raise SuiteError(f"{at('execution', 'executor')}: unknown executor '{execution['executor']}'; "
                         f"valid: {', '.join(EXECUTORS)}")
    suite_meta = raw.get("suite", {})
    return Suite(
        name=suite_meta.get("name", path.stem), path=path, description=suite_meta.get("description", ""),
        cells=cells, timing=timing, compare=raw.get("compare", {}), execution=execution,
    )


def _recipe(train: dict[str, Any], seed: int):  # noqa: ANN202 - a TrainConfig
    return train_config(
        train.get("epochs"), train.get("iterations"), train.get("time_budget"), train.get("batch_size", 8),
        train.get("crop_size"), train.get("optimizer", "adamw"), train.get("lr"),
        train.get("weight_decay", 1e-4), train.get("warmup_iters", 20), train.get("class_weights", False),
        "fp32", False, seed, train.get("deterministic", False), train.get("workers", 0),
        train.get("nproc_per_node", 1), loss=train.get("loss", DEFAULT_LOSS),
    )


def _inference(table: dict[str, Any], where: str) -> InferenceConfig:
    def scales(key: str) -> str | None:
        return ",".join(str(v) for v in table[key]) if key in table else None

    try:
        return InferenceConfig.from_options(
            scales("tta_scales"), table.get("flip", False), table.get("crf", False), table.get("crf_iterations", 5),
            table.get("mc_samples", 0), scales("attention_scales"),
        )
    except ValueError as e:
        raise SuiteError(f"{where}: {e}") from None
