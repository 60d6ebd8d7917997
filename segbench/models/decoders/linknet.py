"""LinkNet's decoder: light x2 blocks with additive skips, and its x4 final block.

Chaurasia & Culurciello, "LinkNet: Exploiting Encoder Representations for
Efficient Semantic Segmentation", VCIP 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from segbench.models.decoders import DECODERS
from segbench.models.decoders.unet import AdditiveSkipDecoder, FinalBlock
from segbench.models.spec import FeatureSpec


@DECODERS.register(
    "linknet",
    paper="Chaurasia & Culurciello, LinkNet: Exploiting Encoder Representations for Efficient "
    "Semantic Segmentation",
    year=2017,
    needs="features at strides 4, 8, 16, 32",
)
class LinkNet(AdditiveSkipDecoder):
    """Deep to shallow: x2 decoder block to the skip's channels, add the skip; the final block from stride 4.

    The paper bypasses each encoder block's input to its decoder block's
    output, and all four of its encoder blocks halve the size. torchvision's
    ResNet-18 keeps the stride in ``layer1``, so here the skips are the
    stride-16, 8 and 4 maps and there are three decoder blocks: the paper's
    (64, 64) block (about 4.5 K parameters) has no stride to undo. The final
    block's x4 starts from stride 4, as in the paper. The ``unet`` entry is the
    same design as RTSeg used it: the two share :class:`AdditiveSkipDecoder`
    and differ only in where the head sits (state-dict keys ``final.*`` here,
    ``head.*`` there).
    """

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        self.final = FinalBlock(self.skip_channels[0], num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.final(self.decode(features))
