"""PSPNet: pyramid pooling over the deepest features, with an auxiliary head for training.

Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017.

Published figure: the paper reports no parameter count. mmsegmentation's
``pspnet_r50-d8`` (ResNet-50-D8, auxiliary FCN head on stage 3) has about 49M
parameters. resnet50 + psp here, 19 classes, output stride 8, counted with
``inference=False`` (auxiliary head included): 48.96M (encoder 23.51M, PPM
4.20M, 3x3 bottleneck and classifier 18.89M, aux head 2.36M), within 1% of
mmseg's; its deep-stem ResNetV1c accounts for most of the rest. Without the
auxiliary head (the deployed model): 46.59M.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder, TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.spec import FeatureSpec


class PyramidPooling(nn.Module):
    """Average-pool to ``bins`` x ``bins`` grids, 1x1 conv + BN + ReLU each, upsample, concat with the input.

    Each level gets ``cin / len(bins)`` channels so that the pooled context
    weighs as much as the local features it is concatenated with.
    """

    def __init__(self, cin: int, bins: Sequence[int] = (1, 2, 3, 6), channels: int | None = None) -> None:
        super().__init__()
        channels = channels or cin // len(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), *ConvNormAct(cin, channels, kernel_size=1)) for b in bins
        )
        self.out_channels = cin + len(bins) * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages
        ]
        return torch.cat([x, *pooled], dim=1)


def fcn_head(cin: int, channels: int, num_classes: int, dropout: float = 0.1) -> nn.Sequential:
    """3x3 conv + BN + ReLU, dropout, 1x1 scores: PSPNet's head after the pyramid, and its auxiliary head."""
    return nn.Sequential(
        ConvNormAct(cin, channels), nn.Dropout(dropout), nn.Conv2d(channels, num_classes, 1)
    )


@DECODERS.register(
    "psp",
    paper="Zhao et al., Pyramid Scene Parsing Network",
    year=2017,
    needs="encoder at output stride 8 (or 16); auxiliary head on the second-deepest stage",
)
class PSPNet(Decoder):
    """Pyramid pooling (bins 1, 2, 3, 6), 3x3 conv 512, dropout 0.1, 1x1 scores, bilinear to the input scale.

    The auxiliary head (3x3 conv 256, 1x1 scores) reads the second-deepest
    stage (ResNet's res4, stride 16 before dilation). It is the paper's deep
    supervision: used by the training loss only, so wrapped in
    :class:`TrainingOnly` and skipped in eval mode.
    """

    output_stride = 8
    output_strides = (8, 16)

    def __init__(
        self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 512, aux_channels: int = 256
    ) -> None:
        super().__init__(specs, num_classes)
        top = specs[-1]
        if top.stride not in self.output_strides:
            raise ValueError(f"psp needs its deepest features at stride 8 or 16, got {top.stride}")
        self.stride = top.stride
        self.ppm = PyramidPooling(top.channels)
        self.head = fcn_head(self.ppm.out_channels, channels, num_classes)
        # The stage before the last: at output stride 8 or 16 it runs at the top stride too.
        self.aux_index = len(specs) - 2
        self.aux = TrainingOnly(fcn_head(specs[self.aux_index].channels, aux_channels, num_classes))

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2] * self.stride, x.shape[-1] * self.stride)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        main = self._up(self.head(self.ppm(features[-1])))
        if not self.training:
            return main
        aux = self.aux(features[self.aux_index])
        return main, F.interpolate(aux, size=main.shape[-2:], mode="bilinear", align_corners=False)
