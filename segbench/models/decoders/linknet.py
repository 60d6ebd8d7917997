"""LinkNet's decoder: light x2 blocks with additive skips, and its x4 final block.

Chaurasia & Culurciello, "LinkNet: Exploiting Encoder Representations for
Efficient Semantic Segmentation", VCIP 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.decoders.unet import FinalBlock, UpBlock
from segbench.models.spec import FeatureSpec, align_to, feature_at


@DECODERS.register(
    "linknet",
    paper="Chaurasia & Culurciello, LinkNet: Exploiting Encoder Representations for Efficient "
    "Semantic Segmentation",
    year=2017,
    needs="features at strides 4, 8, 16, 32",
)
class LinkNet(Decoder):
    """Deep to shallow: x2 decoder block to the skip's channels, add the skip; the final block from stride 4.

    The paper bypasses each encoder block's input to its decoder block's
    output, and all four of its encoder blocks halve the size. torchvision's
    ResNet-18 keeps the stride in ``layer1``, so here the skips are the
    stride-16, 8 and 4 maps and there are three decoder blocks: the paper's
    (64, 64) block (about 4.5 K parameters) has no stride to undo. The final
    block's x4 starts from stride 4, as in the paper. The ``unet`` entry is the
    same design as RTSeg used it.
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        self.taps = tuple(feature_at(specs, s) for s in (4, 8, 16, 32))  # shallow to deep
        channels = [specs[i].channels for i in self.taps]
        self.blocks = nn.ModuleList(UpBlock(channels[i + 1], channels[i]) for i in reversed(range(3)))
        self.final = FinalBlock(channels[0], num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = [features[i] for i in self.taps]
        x = skips[-1]
        for block, skip in zip(self.blocks, reversed(skips[:-1])):
            x = align_to(block(x), skip.shape[-2:]) + skip
        return self.final(x)
