"""UPerNet: pyramid pooling on the deepest features atop an FPN, all levels fused at stride 4.

Xiao et al., "Unified Perceptual Parsing for Scene Understanding", ECCV 2018.
Layer layout as mmsegmentation's ``UPerHead`` (every conv followed by BN and
ReLU), without its auxiliary FCN head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.decoders.psp import PyramidPooling
from segbench.models.layers import ConvNormAct
from segbench.models.spec import FeatureSpec, feature_at


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


@DECODERS.register(
    "upernet",
    paper="Xiao et al., Unified Perceptual Parsing for Scene Understanding (UPerNet)",
    year=2018,
    needs="features at strides 4, 8, 16, 32",
)
class UPerNet(Decoder):
    """PPM (bins 1, 2, 3, 6; 512 ch) + 3x3 bottleneck on stride 32; FPN top-down over 4..32; fuse at 4.

    The PPM gives the top of the FPN global context; the FPN carries it down
    to the fine levels. Every level (after its 3x3 FPN conv) is upsampled to
    stride 4 and concatenated, so the classifier sees all scales at once:
    3x3 fuse conv 512, 1x1 scores, bilinear x4.
    """

    strides: tuple[int, ...] = (4, 8, 16, 32)

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 512) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in self.strides)
        cins = [specs[i].channels for i in self.taps]
        self.ppm = PyramidPooling(cins[-1], channels=channels)
        self.ppm_bottleneck = ConvNormAct(self.ppm.out_channels, channels)
        self.lateral = nn.ModuleList(ConvNormAct(c, channels, kernel_size=1) for c in cins[:-1])
        self.fpn = nn.ModuleList(ConvNormAct(channels, channels) for _ in cins[:-1])
        self.fuse = ConvNormAct(len(self.strides) * channels, channels)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        xs = [features[i] for i in self.taps]
        top = self.ppm_bottleneck(self.ppm(xs[-1]))
        laterals = [conv(x) for conv, x in zip(self.lateral, xs[:-1], strict=True)] + [top]
        for i in reversed(range(len(laterals) - 1)):  # top-down: coarse into fine
            laterals[i] = laterals[i] + _resize(laterals[i + 1], laterals[i].shape[-2:])
        outs = [conv(x) for conv, x in zip(self.fpn, laterals[:-1], strict=True)] + [top]
        size = outs[0].shape[-2:]
        fused = self.fuse(torch.cat([outs[0], *(_resize(o, size) for o in outs[1:])], dim=1))
        logits = self.classifier(fused)
        return _resize(logits, (logits.shape[-2] * 4, logits.shape[-1] * 4))
