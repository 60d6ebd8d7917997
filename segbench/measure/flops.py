"""FLOP counting with fvcore, in the conventions of DESIGN.md.

fvcore counts one multiply-add as one "flop", i.e. MACs. We store ``gmacs``
(fvcore's total / 1e9, at batch 1) and ``gflops = 2 * gmacs`` (the convention
of RTSeg and most papers), and we name the operators fvcore could not count
(element-wise adds, max pooling, activations...) so nobody mistakes the total
for an exhaustive one.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

with warnings.catch_warnings():
    # fvcore scripts its focal loss at import; torch >= 2.10 warns that jit.script is deprecated.
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
    from fvcore.nn import FlopCountAnalysis

COUNTER = "fvcore"


@dataclass(frozen=True)
class FlopCount:
    gmacs: float
    counter: str = COUNTER
    uncounted: dict[str, int] = field(default_factory=dict)
    by_operator: dict[str, float] = field(default_factory=dict)
    #: GMACs of the model's ``encoder`` and ``decoder`` submodules; NaN where it has none (a whole network).
    gmacs_encoder: float = math.nan
    gmacs_decoder: float = math.nan
    #: fvcore's multiply-adds per module name (the root under ``""``), for the roofline's per-op FLOPs.
    macs_by_module: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def gflops(self) -> float:
        return 2.0 * self.gmacs


def count_flops(model: nn.Module, input_size: tuple[int, int], in_channels: int = 3) -> FlopCount:
    """MACs of one forward pass of ``model`` in eval mode on a batch-1 input of ``input_size``.

    Counted on the CPU in fp32: the count depends on shapes only, and tracing
    there keeps it off the device being timed.
    """
    was_training = model.training
    device = next(model.parameters()).device
    x = torch.zeros(1, in_channels, *input_size, device=device)
    model.eval()
    # fvcore logs every skipped op and uncalled module at WARNING; we record them instead.
    fvcore_log = logging.getLogger("fvcore.nn.jit_analysis")
    level = fvcore_log.level
    fvcore_log.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = analysis.total()
            by_op = {op: n / 1e9 for op, n in analysis.by_operator().items()}
            uncounted = dict(sorted(analysis.unsupported_ops().items()))
            by_module = dict(analysis.by_module())
            parts = {part: part_macs(by_module, part) / 1e9 for part in ("encoder", "decoder")}
    finally:
        fvcore_log.setLevel(level)
        model.train(was_training)
    return FlopCount(gmacs=total / 1e9, uncounted=uncounted, by_operator=by_op,
                     gmacs_encoder=parts["encoder"], gmacs_decoder=parts["decoder"], macs_by_module=by_module)


def part_macs(by_module: dict[str, int], part: str) -> float:
    """MACs of the outermost submodule called ``part`` (``encoder``, or ``model.encoder`` inside an
    inference wrapper); NaN where there is none. TTA or MC-dropout wrappers that run the model
    several times are counted in full, as the total is."""
    names = [name for name in by_module if name.split(".")[-1] == part]
    if not names:
        return math.nan
    outermost = min(len(n.split(".")) for n in names)
    return float(sum(by_module[n] for n in names if len(n.split(".")) == outermost))
