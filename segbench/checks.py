"""The rules that option values and suite keys must meet, in one table, checked where they are parsed.

A command checks all its parsed options with one call to
:func:`check_options` before anything runs, and a suite checks each key
with :func:`problem` while it is validated, so ``--min-iters -1`` and
``[measure] min_iters = -1`` are refused by the same rule, in one line that
names the option or the key. Rules are looked up by name: a command's
parameter name (``lr_warmup`` for ``--lr-warmup``) or a suite's key
(``[train] warmup_iters``); a name without a rule is not checked here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: fp32, fp16 and bf16, as :data:`segbench.measure.profile.PRECISIONS` (not imported: that loads torch).
PRECISIONS = ("fp32", "fp16", "bf16")
#: torch.compile's modes (``--compile-mode``); "default" is torch's ``mode=None``.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
#: A suite name becomes part of its default run directory's name: a plain file name, nothing more.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Rule:
    """A test a value must pass, and what it wants, for the message (``must be <wants>``)."""

    holds: Callable[[Any], bool]
    wants: str


def _number(test: Callable[[float], bool]) -> Callable[[Any], bool]:
    """``test`` on a finite number (NaN and infinity never pass)."""
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and test(v)


def each(rule: Rule, what: str) -> Rule:
    """A non-empty list whose every item passes ``rule``."""
    return Rule(lambda v: isinstance(v, list) and len(v) > 0 and all(rule.holds(x) for x in v),
                f"a non-empty list of {what}")


AT_LEAST_0 = Rule(_number(lambda v: v >= 0), "a number at least 0")
COUNT = Rule(_number(lambda v: v >= 0), "a whole number at least 0")
AT_LEAST_1 = Rule(_number(lambda v: v >= 1), "a whole number at least 1")
ABOVE_0 = Rule(_number(lambda v: v > 0), "a number above 0")
FRACTION = Rule(_number(lambda v: 0 <= v < 1), "a number in [0, 1)")
NOT_EMPTY = Rule(lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list")
DEVICE = Rule(lambda v: isinstance(v, str) and bool(_DEVICE.match(v)), "auto, cpu, cuda or cuda:N")
PRECISION = Rule(lambda v: v in PRECISIONS, "one of " + ", ".join(PRECISIONS))
PRECISION_LIST = Rule(lambda v: isinstance(v, str) and all(p.strip() in PRECISIONS for p in v.split(",")),
                      "a comma list of " + ", ".join(PRECISIONS))
COMPILE_MODE = Rule(lambda v: v in COMPILE_MODES, "one of " + ", ".join(COMPILE_MODES))
PLAIN_NAME = Rule(lambda v: isinstance(v, str) and bool(_PLAIN_NAME.match(v)) and ".." not in v,
                  "a plain name (letters, digits, '.', '_', '-'; no '/' or '..'): it names the run directory "
                  "under results/runs")

#: name -> rule, for command options (by parameter name) and suite keys alike.
RULES: dict[str, Rule] = {
    # measurement: [measure] and grid --warmup-iters/--min-iters/--min-time
    "warmup_iters": COUNT,
    "min_iters": AT_LEAST_1,
    "min_time": AT_LEAST_0,
    "rounds": AT_LEAST_1,
    # training recipe: [train] and the train/grid options
    "lr_warmup": COUNT,
    "weight_decay": AT_LEAST_0,
    "lr": ABOVE_0,
    "epochs": AT_LEAST_1,
    "iterations": AT_LEAST_1,
    "time_budget": ABOVE_0,
    "batch_size": AT_LEAST_1,
    "train_batch_size": AT_LEAST_1,
    "workers": COUNT,
    "nproc_per_node": AT_LEAST_1,
    "train_precision": PRECISION,
    "seeds": NOT_EMPTY,
    # the grid: [grid] and the grid options
    "device": DEVICE,
    "devices": each(DEVICE, "auto, cpu, cuda or cuda:N"),
    "precision": PRECISION_LIST,
    "precisions": each(PRECISION, ", ".join(PRECISIONS)),
    "sizes": NOT_EMPTY,
    "batch_sizes": each(AT_LEAST_1, "whole numbers at least 1"),
    "num_classes": AT_LEAST_1,
    "threads": AT_LEAST_1,
    "runtimes": NOT_EMPTY,  # the names are checked against segbench.runtimes.RUNTIMES (plug-ins add some)
    "compile_mode": COMPILE_MODE,
    # inference add-ons
    "crf_iterations": AT_LEAST_1,
    "mc_samples": COUNT,
    # execution
    "timeout": ABOVE_0,
    "max_retries": COUNT,
    "concurrency": AT_LEAST_1,
    # [suite]
    "name": PLAIN_NAME,
}  # fmt: skip


def problem(name: str, value: Any, rule: Rule | None = None) -> str | None:
    """``must be <what the rule wants>`` when ``value`` breaks ``rule`` (default: the rule for ``name``); else None."""
    rule = rule or RULES.get(name)
    if rule is None or value is None or rule.holds(value):
        return None
    return f"must be {rule.wants}"


def check_values(values: Mapping[str, Any], label: Callable[[str], str] = str) -> None:
    """Raise a one-line ValueError for the first value that breaks its rule, named by ``label(name)``."""
    for name, value in values.items():
        found = problem(name, value)
        if found:
            raise ValueError(f"{label(name)} {found}, not {value!r}")


def check_options(ctx: Any) -> None:
    """Check every option of the running command against :data:`RULES`, each named by its flag.

    ``ctx`` is the command's ``typer.Context`` (click's): its ``params`` are
    the parsed values, and its command's parameters give the flag the user
    typed (``--lr-warmup``, whatever the parameter is called). Call it first
    in a command, before anything runs.
    """
    flags = {p.name: max(p.opts, key=len) for p in ctx.command.params if p.opts}
    generated = ctx.meta.get("segbench.generated_options", set())  # checked by segbench.spec, parsed
    check_values({k: v for k, v in ctx.params.items() if k not in generated}, label=lambda name: flags.get(name, name))
