"""ESPNet (Mehta, Rastegari, Caspi, Shapiro, Hajishirzi 2018, "ESPNet: Efficient Spatial Pyramid of
Dilated Convolutions for Semantic Segmentation", ECCV).

The full ESPNet of the paper's Figure 4(d), not the encoder-only ESPNet-C.
An ESP module reduces its input to ``N/K`` maps (K = 5) with a 1x1 conv (a
3x3/2 conv when it downsamples), splits into five parallel 3x3 convs dilated
1, 2, 4, 8, 16, fuses them hierarchically (each branch adds the previous
sum, to avoid gridding), concatenates and adds the input. The encoder
concatenates the image, average-pooled, to stages 1 and 2 (input
reinforcement); the light decoder projects the 1/8 and 1/4 features to the
classes, upsamples with 2x2/2 transposed convs, merges with an ESP module and
a 3x3 conv on the 1/2 features, and a final transposed conv reaches full size.

Depths α2 = 2, α3 = 8 as in the paper's experiments (the authors' Cityscapes
command line uses ``--p 2 --q 8``). As in the authors' code, the first branch
takes the ``N - 4 N/K`` left-over channels and BatchNorm uses eps 1e-3. The
decoder's transposed convs double sizes exactly, so the input is zero-padded
to a multiple of 8 and the logits cropped back. The decoder's ESP module is as
wide as the class count; below 5 classes (one channel per branch) it is
widened to 5, which the paper's settings (11 to 20 classes) never need.
"""

from __future__ import annotations

import torch
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import (
    InputInjection,
    bn_prelu,
    check_num_classes,
    conv_bn_prelu,
    pad_to_multiple,
)

STRIDE = 8
DILATIONS = (1, 2, 4, 8, 16)


class ESPModule(nn.Module):
    """Reduce, split into dilated branches, hierarchical feature fusion, concatenate (+ residual)."""

    def __init__(
        self, in_channels: int, out_channels: int, downsample: bool = False, residual: bool = True
    ) -> None:
        super().__init__()
        k = len(DILATIONS)
        n = out_channels // k
        first = out_channels - (k - 1) * n
        self.reduce = (
            nn.Conv2d(in_channels, n, 3, stride=2, padding=1, bias=False)
            if downsample
            else nn.Conv2d(in_channels, n, 1, bias=False)
        )
        self.branches = nn.ModuleList(
            nn.Conv2d(n, first if i == 0 else n, 3, padding=d, dilation=d, bias=False)
            for i, d in enumerate(DILATIONS)
        )
        self.residual = residual and not downsample and in_channels == out_channels
        self.post = bn_prelu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outs = [self.branches[0](reduced)]
        fused = self.branches[1](reduced)
        outs.append(fused)
        for branch in self.branches[2:]:
            fused = fused + branch(reduced)
            outs.append(fused)
        out = torch.cat(outs, dim=1)
        if self.residual:
            out = out + x
        return self.post(out)


@NETWORKS.register(
    "espnet",
    paper="Mehta et al., ESPNet: Efficient Spatial Pyramid of Dilated Convolutions for Semantic Segmentation",
    year=2018,
    paper_params=0.364,
    paper_classes=19,
    params_source="paper's comparison on Cityscapes (ESPNet, 0.364 M), 19 classes",
)
class ESPNet(nn.Module):
    def __init__(self, num_classes: int, alpha2: int = 2, alpha3: int = 8) -> None:
        super().__init__()
        check_num_classes(num_classes)
        c = num_classes
        # Encoder (ESPNet-C with input reinforcement).
        self.level1 = conv_bn_prelu(3, 16, 3, stride=2)
        self.image_half = InputInjection(1)
        self.image_quarter = InputInjection(2)
        self.post1 = bn_prelu(16 + 3)
        self.down2 = ESPModule(16 + 3, 64, downsample=True)
        self.level2 = nn.Sequential(*(ESPModule(64, 64) for _ in range(alpha2)))
        self.post2 = bn_prelu(128 + 3)
        self.down3 = ESPModule(128 + 3, 128, downsample=True)
        self.level3 = nn.Sequential(*(ESPModule(128, 128) for _ in range(alpha3)))
        self.post3 = bn_prelu(256)
        # Decoder.
        self.classify3 = nn.Sequential(nn.Conv2d(256, c, 1, bias=False), nn.BatchNorm2d(c, eps=1e-3))
        self.up3 = nn.Sequential(nn.ConvTranspose2d(c, c, 2, stride=2, bias=False), bn_prelu(c))
        self.classify2 = nn.Conv2d(128 + 3, c, 1, bias=False)
        # Below 5 classes an ESP module of width c would have empty branches: widen it to 5.
        merged = max(c, len(DILATIONS))
        self.merge2 = nn.Sequential(bn_prelu(2 * c), ESPModule(2 * c, merged, residual=False))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(merged, c, 2, stride=2, bias=False), bn_prelu(c))
        self.merge1 = conv_bn_prelu(16 + 3 + c, c, 3)
        self.up1 = nn.ConvTranspose2d(c, c, 2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, STRIDE)
        l1 = self.post1(torch.cat([self.level1(x), self.image_half(x)], dim=1))
        d2 = self.down2(l1)
        l2 = self.post2(torch.cat([self.level2(d2), d2, self.image_quarter(x)], dim=1))
        d3 = self.down3(l2)
        l3 = self.post3(torch.cat([d3, self.level3(d3)], dim=1))
        out = self.up3(self.classify3(l3))
        out = self.up2(self.merge2(torch.cat([self.classify2(l2), out], dim=1)))
        out = self.up1(self.merge1(torch.cat([out, l1], dim=1)))
        return out[..., :h, :w]
