"""Global Convolutional Network: large separable kernels to class scores, boundary refinement.

Peng, Zhang, Yu, Luo & Sun, "Large Kernel Matters -- Improve Semantic
Segmentation by Global Convolutional Network", CVPR 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder, bilinear_upsampler
from segbench.models.spec import FeatureSpec, align_to, feature_at

STRIDES: tuple[int, ...] = (4, 8, 16, 32)


class GlobalConv(nn.Module):
    """k x 1 then 1 x k, plus 1 x k then k x 1, summed: a dense k x k reach at 2k(C_in + C) C weights.

    No normalisation or nonlinearity, as in the paper. Padding keeps the size.
    """

    def __init__(self, cin: int, cout: int, k: int = 15) -> None:
        super().__init__()
        p = k // 2
        self.left = nn.Sequential(
            nn.Conv2d(cin, cout, (k, 1), padding=(p, 0)), nn.Conv2d(cout, cout, (1, k), padding=(0, p))
        )
        self.right = nn.Sequential(
            nn.Conv2d(cin, cout, (1, k), padding=(0, p)), nn.Conv2d(cout, cout, (k, 1), padding=(p, 0))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.left(x) + self.right(x)


class BoundaryRefine(nn.Module):
    """Residual 3x3-ReLU-3x3 on the score maps: a learned correction near object boundaries."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@DECODERS.register(
    "gcn",
    paper="Peng et al., Large Kernel Matters -- Improve Semantic Segmentation by Global Convolutional Network",
    year=2017,
    needs="features at strides 4, 8, 16, 32",
)
class GCN(Decoder):
    """GCN + BR on strides 4-32 to C channels; top-down x2 deconv, add, BR; then (deconv, BR) twice.

    Every map past the GCNs has only C channels, so the decoder's cost is in
    the large kernels on the encoder's features. Deconvs start as bilinear.
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int, k: int = 15) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in STRIDES)  # shallow to deep
        c = num_classes
        self.gcns = nn.ModuleList(GlobalConv(specs[i].channels, c, k) for i in self.taps)
        self.brs = nn.ModuleList(BoundaryRefine(c) for _ in self.taps)
        self.ups = nn.ModuleList(bilinear_upsampler(c, 2) for _ in self.taps[1:])
        self.merge_brs = nn.ModuleList(BoundaryRefine(c) for _ in self.taps[1:])
        self.final = nn.Sequential(
            bilinear_upsampler(c, 2), BoundaryRefine(c), bilinear_upsampler(c, 2), BoundaryRefine(c)
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        scores = [br(gcn(features[i])) for i, gcn, br in zip(self.taps, self.gcns, self.brs, strict=True)]
        x = scores[-1]
        for s, up, br in zip(reversed(scores[:-1]), self.ups, self.merge_brs, strict=True):
            x = br(align_to(up(x), s.shape[-2:]) + s)
        return self.final(x)
