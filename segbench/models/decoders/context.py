"""The basic context module on a dilated (stride-8) frontend.

Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR
2016.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec

DILATIONS: tuple[int, ...] = (1, 1, 2, 4, 8, 16, 1)


def _identity_(conv: nn.Conv2d) -> None:
    """Each output channel starts as a copy of its input channel: the paper's identity initialisation.

    Random initialisation did not train the module, the paper reports.
    """
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    k = conv.kernel_size[0] // 2
    with torch.no_grad():
        conv.weight[range(conv.out_channels), range(conv.in_channels), k, k] = 1.0


class ContextModule(nn.Sequential):
    """Seven 3x3 C->C convs, dilated 1, 1, 2, 4, 8, 16, 1, and a 1x1 C->C; ReLU after all but the last.

    Receptive field 67x67 at the frontend's resolution; 64 C^2 weights and 8 C biases.
    """

    def __init__(self, channels: int) -> None:
        layers: list[nn.Module] = []
        for d in DILATIONS:
            layers += [nn.Conv2d(channels, channels, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, channels, 1))
        super().__init__(*layers)
        for m in self:
            if isinstance(m, nn.Conv2d):
                _identity_(m)


@DECODERS.register(
    "context",
    paper="Yu & Koltun, Multi-Scale Context Aggregation by Dilated Convolutions (basic context module)",
    year=2016,
    needs="encoder at output stride 8 (last two stages dilated 2 and 4)",
)
class ContextNet(Decoder):
    """1x1 classifier of the stride-8 features, the context module on the class scores, bilinear x8.

    The module works in score space (C channels), which is what keeps it
    small; the x8 upsampling is bilinear and parameter-free, as in the paper.
    """

    output_stride = 8

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        top = specs[-1]
        if top.stride != 8:
            raise ValueError(f"context needs stride-8 features, got stride {top.stride}")
        self.classifier = nn.Conv2d(top.channels, num_classes, 1)
        self.context = ContextModule(num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.context(self.classifier(features[-1]))
        return F.interpolate(x, scale_factor=8, mode="bilinear", align_corners=False)
