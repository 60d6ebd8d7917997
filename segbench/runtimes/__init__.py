"""Runtimes: how a cell's model runs when it is timed (``--runtime eager,compile,cudagraphs,onnxruntime``).

Each entry of :data:`RUNTIMES` turns the eager model and its example input into
a callable to time, with figures of its own build (:class:`~segbench.measure.costs.RuntimeBuild`).
A plug-in registers another the same way::

    @RUNTIMES.register("tensorrt", needs="torch_tensorrt")
    class TensorRT(Runtime):
        def build(self, target: Target) -> Built: ...

Every runtime but eager is checked against eager before it is timed (:func:`prepare_runtime`).
"""

from segbench.runtimes import onnx_runtime, torch_runtimes  # noqa: F401  (they register the built-in runtimes)
from segbench.runtimes.base import (
    RUNTIMES,
    TOLERANCES,
    Built,
    Ready,
    Runtime,
    RuntimeBuildError,
    RuntimeCard,
    RuntimeMismatch,
    Target,
    Tolerance,
    check_runtime,
    eager_forward,
    logits_of,
    prepare_runtime,
    runtime,
)

__all__ = [
    "RUNTIMES",
    "TOLERANCES",
    "Built",
    "Ready",
    "Runtime",
    "RuntimeBuildError",
    "RuntimeCard",
    "RuntimeMismatch",
    "Target",
    "Tolerance",
    "check_runtime",
    "eager_forward",
    "logits_of",
    "prepare_runtime",
    "runtime",
]
