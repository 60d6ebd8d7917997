"""The runtime interface, its registry, and the check every non-eager runtime passes before it is timed.

A runtime turns the eager model and the example input it will be timed on
(a :class:`Target`) into a callable that runs one forward (:class:`Built`).
:func:`prepare_runtime` builds it, times the build, and compares its logits
with eager's on that same input: a runtime whose logits differ beyond the
precision's :data:`TOLERANCES` raises :class:`RuntimeMismatch` with the
figures, so it is recorded ``failed`` and never timed as if it were right.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from segbench.config import EAGER
from segbench.measure.costs import RuntimeBuild
from segbench.measure.profile import autocast
from segbench.models.decoders.base import NotApplicable
from segbench.registry import Card, Registry


@dataclass(frozen=True, kw_only=True)
class RuntimeCard(Card):
    #: What it needs beyond torch, for ``segbench list runtimes`` ("CUDA", "onnxruntime").
    needs: str | None = None
    #: Whether it reads ``--compile-mode`` (the cell's ``compile_mode`` is None for the others).
    compile_mode: bool = False


@dataclass(frozen=True)
class Target:
    """What a runtime builds for: the eager model (eval mode, on ``device``) and the input it is timed on."""

    model: nn.Module
    x: torch.Tensor
    device: torch.device
    precision: str
    channels_last: bool = False
    compile_mode: str | None = None


@dataclass
class Built:
    """A runtime's callable: ``forward()`` runs the model once on the target's input and returns its output."""

    forward: Callable[[], Any]
    #: What runs it, for the record (``inductor``, ``CPUExecutionProvider``).
    backend: str
    #: :class:`RuntimeBuild` fields known once built (``compile_s``, ``export_s``, ``onnx_opset``).
    figures: dict[str, Any] = field(default_factory=dict)
    #: :class:`RuntimeBuild` fields known only after timing (``recompiles``).
    after_timing: Callable[[], dict[str, Any]] | None = None


class Runtime:
    """One way to run a model when it is timed. Register a subclass in :data:`RUNTIMES` (a plug-in may)."""

    def missing(self) -> str | None:
        """A one-line message saying how to install what this runtime needs, when it is not installed."""
        return None

    def not_applicable(self, device: torch.device, precision: str, channels_last: bool) -> str | None:
        """Why this runtime cannot run such a cell (the cell is then ``not_applicable``), or None."""
        return None

    def build(self, target: Target) -> Built:
        raise NotImplementedError


RUNTIMES: Registry[type[Runtime]] = Registry("runtime", RuntimeCard)


class RuntimeBuildError(RuntimeError):
    """A runtime could not be built (an export error, a compiler missing); ``str()`` is one line."""


class RuntimeMismatch(RuntimeError):
    """A runtime's logits disagree with eager's beyond the tolerance; ``build`` holds the figures."""

    def __init__(self, message: str, build: RuntimeBuild) -> None:
        super().__init__(message)
        self.build = build


@dataclass(frozen=True)
class Tolerance:
    """How close a runtime's logits must be to eager's, at one precision."""

    #: The largest absolute logit difference allowed, as a share of eager's largest absolute logit (at least 1).
    max_abs_diff: float
    #: The least share of pixels whose argmax class must be eager's.
    argmax_agree: float


#: Per precision: fp32 on a GPU may run convolutions in TF32 (10-bit mantissa, as fp16); bf16 has 7 bits.
TOLERANCES = {
    "fp32": Tolerance(max_abs_diff=0.01, argmax_agree=0.99),
    "fp16": Tolerance(max_abs_diff=0.02, argmax_agree=0.98),
    "bf16": Tolerance(max_abs_diff=0.1, argmax_agree=0.95),
}


def logits_of(output: Any) -> torch.Tensor:
    """The logits in a model's output: the tensor, torchvision's ``out``, or the first of a tuple."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        return logits_of(output["out"] if "out" in output else next(iter(output.values())))
    if isinstance(output, (tuple, list)) and output:
        return logits_of(output[0])
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


def eager_forward(target: Target) -> Callable[[], Any]:
    """The model called as it is, under inference mode and the precision's autocast."""
    model, x = target.model, target.x

    def forward() -> Any:
        with torch.inference_mode(), autocast(target.device, target.precision):
            return model(x)

    return forward


def runtime(name: str) -> Runtime:
    """The runtime registered as ``name`` (an :class:`~segbench.registry.UnknownNameError` lists the valid)."""
    return RUNTIMES.get(name)()


def check_runtime(name: str, device: torch.device, precision: str, channels_last: bool) -> None:
    """Raise what keeps runtime ``name`` from running such a cell: a library missing, or NotApplicable."""
    chosen = runtime(name)
    missing = chosen.missing()
    if missing:
        raise RuntimeBuildError(missing)
    reason = chosen.not_applicable(device, precision, channels_last)
    if reason:
        raise NotApplicable(f"runtime '{name}': {reason}")


@dataclass
class Ready:
    """A built and checked runtime: ``forward`` is what is timed; ``figures()`` its record, after timing."""

    forward: Callable[[], Any]
    build: RuntimeBuild
    after_timing: Callable[[], dict[str, Any]] | None = None

    def figures(self) -> RuntimeBuild:
        if self.after_timing is None:
            return self.build
        return RuntimeBuild(**{**self.build.to_dict(), **self.after_timing()})


def prepare_runtime(name: str, target: Target) -> Ready:
    """Build runtime ``name`` for ``target`` and check it against eager on the target's input.

    Raises NotApplicable, :class:`RuntimeBuildError` (one line, the cause chained) or
    :class:`RuntimeMismatch` (with the figures); eager itself is not checked.
    """
    chosen = runtime(name)
    check_runtime(name, target.device, target.precision, target.channels_last)
    if name == EAGER:
        return Ready(eager_forward(target), RuntimeBuild(runtime_backend=EAGER))
    reference = logits_of(eager_forward(target)()).float().clone()
    t0 = time.perf_counter()
    try:
        built = chosen.build(target)
        build_s = time.perf_counter() - t0
        got = logits_of(built.forward()).float()
    except (NotApplicable, torch.cuda.OutOfMemoryError):
        raise
    except Exception as e:
        detail = str(e).strip().splitlines()
        raise RuntimeBuildError(f"runtime '{name}' could not build: {type(e).__name__}"
                                f"{': ' + detail[0] if detail else ''}") from e
    diff, agree = agreement(reference, got)
    build = RuntimeBuild(runtime_backend=built.backend, runtime_build_s=build_s, runtime_max_abs_diff=diff,
                         runtime_argmax_agree=agree, **built.figures)
    problem = disagreement(reference, got, diff, agree, target.precision)
    if problem:
        raise RuntimeMismatch(f"runtime '{name}' disagrees with eager: {problem}", build)
    return Ready(built.forward, build, built.after_timing)


def agreement(reference: torch.Tensor, got: torch.Tensor) -> tuple[float, float]:
    """The largest absolute logit difference and the share of pixels whose argmax agrees (NaN, 0 if shapes differ)."""
    if got.shape != reference.shape:
        return float("nan"), 0.0
    got = got.to(reference.device)
    diff = (got - reference).abs().max().item()
    agree = (got.argmax(1) == reference.argmax(1)).float().mean().item()
    return float(diff), float(agree)


def disagreement(reference: torch.Tensor, got: torch.Tensor, diff: float, agree: float, precision: str) -> str | None:
    """What is beyond the precision's tolerance, in words; None when the runtime agrees with eager."""
    if got.shape != reference.shape:
        return f"its logits have shape {tuple(got.shape)}, eager's {tuple(reference.shape)}"
    tolerance = TOLERANCES[precision]
    limit = tolerance.max_abs_diff * max(1.0, reference.abs().max().item())
    found = []
    if not diff <= limit:  # NaN logits too
        found.append(f"max |logit difference| {diff:.3g} > {limit:.3g}")
    if agree < tolerance.argmax_agree:
        found.append(f"argmax agrees on {100 * agree:.1f}% of pixels < {100 * tolerance.argmax_agree:g}%")
    if not found:
        return None
    return f"{' and '.join(found)} ({precision} tolerance)"
