"""The decoder ``work`` of the gate's test plug-ins, and the same doing twice the work (nothing registered here).

``work`` lifts the stride-8 feature to the input size and runs a stack of
3x3 convolutions there, so that it, not the encoder, is most of a model's
time. The plug-ins :mod:`tests.measure.plugins_work` and
:mod:`tests.measure.plugins_work_x2` register one or the other under the same
name: a run with one and a run with the other have the same cells (the same
ids, the same key columns), and only the second is slower.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from segbench.models import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, feature_at

WIDTH, DEPTH = 64, 4


class Work(Decoder):
    """A 1x1 reduction, a x8 upsampling, then ``DEPTH`` 3x3 convolutions applied ``passes`` times."""

    passes = 1

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        self.tap = feature_at(specs, 8)
        self.reduce = nn.Conv2d(specs[self.tap].channels, WIDTH, 1)
        self.body = nn.Sequential(*(m for _ in range(DEPTH) for m in (nn.Conv2d(WIDTH, WIDTH, 3, padding=1),
                                                                      nn.ReLU())))
        self.head = nn.Conv2d(WIDTH, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = F.interpolate(self.reduce(features[self.tap]), scale_factor=8.0, mode="nearest")
        y = x
        for _ in range(self.passes):  # the same layers again: the same output, `passes` times the work
            y = self.body(x)
        return self.head(y)


class WorkTwice(Work):
    passes = 2


def register(cls: type[Work]) -> None:
    """Register ``cls`` as ``work`` (once: importing a plug-in twice is harmless)."""
    if "work" not in DECODERS.names():
        DECODERS.add("work", cls, paper="test only", year=0, needs="a feature at stride 8")
