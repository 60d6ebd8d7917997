"""Fast-SCNN (Poudel, Liwicki, Cipolla 2019, "Fast-SCNN: Fast Semantic Segmentation Network",
BMVC; arXiv:1902.04502).

Built from the paper's Tables 1 and 2. Learning to downsample: a 3x3/2 conv
(32) and two depthwise-separable 3x3/2 convs (48, 64), giving the 1/8 branch.
Global feature extractor: MobileNetV2 inverted residual bottlenecks (expansion
6) -- 3 x 64 (first strided), 3 x 96 (first strided), 3 x 128 -- reaching 1/32,
then a pyramid pooling module (bins 1, 2, 3, 6). Feature fusion: the 1/32
branch is upsampled x4, goes through a 3x3 depthwise conv dilated 4 and a 1x1
conv; the 1/8 branch through a 1x1 conv; both are added. Classifier: two
depthwise-separable convs (128), a 1x1 conv to the classes, and bilinear
upsampling to the input size.

The paper trains with auxiliary losses (weight 0.4) at the end of the learning
to downsample and of the global feature extractor; their heads (3x3 conv to 32
maps, dropout, 1x1 conv, as in the reference PyTorch code) are training only.
Table 2's dilation of the fusion's depthwise conv is kept although reference
implementations drop it (it costs no parameters). The paper does not give the
pyramid pooling module's widths; as in the reference code each bin is reduced
to a quarter of the width and the 256-channel concatenation projected back to
128 by a 1x1 conv. That reading counts 1.138 M parameters, 2.5% over the
paper's 1.11 M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders.base import TrainingOnly
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: Table 1 rows of the global feature extractor: (expansion t, channels c, repeats n, stride s).
BOTTLENECKS = ((6, 64, 3, 2), (6, 96, 3, 2), (6, 128, 3, 1))
PYRAMID_BINS = (1, 2, 3, 6)


def ds_conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise-separable conv: 3x3 depthwise, then 1x1 pointwise, each with BN and ReLU."""
    return nn.Sequential(
        ConvNormAct(cin, cin, stride=stride, groups=cin), ConvNormAct(cin, cout, kernel_size=1)
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expansion, 3x3 depthwise, linear 1x1 projection (+ residual)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.block = nn.Sequential(
            ConvNormAct(cin, hidden, kernel_size=1),
            ConvNormAct(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling: each bin's pooled map reduced to a quarter width, upsampled, concatenated."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvNormAct(channels, channels // 4, kernel_size=1))
            for b in PYRAMID_BINS
        )
        self.project = ConvNormAct(2 * channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(s(x), size=size, mode="bilinear", align_corners=False) for s in self.stages]
        return self.project(torch.cat([x, *pooled], dim=1))


class FeatureFusion(nn.Module):
    """Adds the 1/8 branch (1x1 conv) and the upsampled 1/32 branch (dilated depthwise + 1x1 conv)."""

    def __init__(self, high_channels: int, low_channels: int, out_channels: int, scale: int = 4) -> None:
        super().__init__()
        self.low = nn.Sequential(
            ConvNormAct(low_channels, low_channels, dilation=scale, groups=low_channels),
            nn.Conv2d(low_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.high = nn.Sequential(
            nn.Conv2d(high_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        low = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.high(high) + self.low(low))


def aux_head(channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(ConvNormAct(channels, 32), nn.Dropout(0.1), nn.Conv2d(32, num_classes, 1))


@NETWORKS.register(
    "fast_scnn",
    paper="Poudel et al., Fast-SCNN: Fast Semantic Segmentation Network",
    year=2019,
    paper_params=1.11,
    paper_classes=19,
    params_source="paper's Cityscapes comparison (1.11 M), 19 classes; auxiliary heads excluded",
)
class FastSCNN(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.learning_to_downsample = nn.Sequential(
            ConvNormAct(3, 32, stride=2), ds_conv(32, 48, 2), ds_conv(48, 64, 2)
        )
        layers: list[nn.Module] = []
        cin = 64
        for t, c, n, s in BOTTLENECKS:
            layers += [InvertedResidual(cin if i == 0 else c, c, s if i == 0 else 1, t) for i in range(n)]
            cin = c
        self.global_features = nn.Sequential(*layers, PyramidPooling(128, 128))
        self.fusion = FeatureFusion(64, 128, 128)
        self.classifier = nn.Sequential(
            ds_conv(128, 128), ds_conv(128, 128), nn.Dropout(0.1), nn.Conv2d(128, num_classes, 1)
        )
        self.aux_downsample = TrainingOnly(aux_head(64, num_classes))
        self.aux_global = TrainingOnly(aux_head(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        high = self.learning_to_downsample(x)
        low = self.global_features(high)
        out = self.classifier(self.fusion(high, low))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        if not self.training:
            return out
        aux = (self.aux_downsample(high), self.aux_global(low))
        return (out, *(F.interpolate(a, size=size, mode="bilinear", align_corners=False) for a in aux))
