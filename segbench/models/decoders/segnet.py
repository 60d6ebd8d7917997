"""SegNet: a decoder that mirrors the encoder and upsamples with its max-pooling indices.

Badrinarayanan, Kendall & Cipolla, "SegNet: A Deep Convolutional
Encoder-Decoder Architecture for Image Segmentation", TPAMI 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.layers import ConvNormAct
from segbench.models.spec import FeatureSpec

#: Convs per encoder stage, shallow to deep: VGG-16's 2, 2, 3, 3, 3. Specs carry
#: no conv counts, so the mirror uses this VGG pattern; deeper stages reuse the last.
_CONVS_PER_STAGE = (2, 2, 3, 3, 3)


def _decoder_stage(cin: int, cout: int, num_convs: int) -> nn.Sequential:
    """``num_convs`` 3x3 conv-BN-ReLU layers; only the last changes the width (as SegNet's)."""
    layers = [ConvNormAct(cin, cin) for _ in range(num_convs - 1)]
    return nn.Sequential(*layers, ConvNormAct(cin, cout))


@DECODERS.register(
    "segnet",
    paper="Badrinarayanan et al., SegNet: A Deep Convolutional Encoder-Decoder Architecture",
    year=2017,
    needs="max-pooling indices of every encoder stage (2x2/2 pools, e.g. vgg16_bn)",
)
class SegNet(Decoder):
    """From the deepest stage to the shallowest: unpool with that stage's indices, then its convs mirrored.

    Stage ``i`` maps its features' width to stage ``i-1``'s with as many
    conv-BN-ReLU layers as the encoder stage has convs (VGG-16:
    512→512→512, 512→512→256, 256→256→128, 128→64); the shallowest stage has
    one 64→64 layer and then the classifier, a 3x3 conv to the classes, as in
    SegNet's Caffe model (conv1_1_D). With vgg16_bn and 11 classes the model
    has 29,445,643 parameters (the paper: 29.45 M); a 1x1 classifier would
    give 29,440,011.
    """

    needs_pool_indices = True

    def __init__(self, specs: Sequence[FeatureSpec], num_classes: int) -> None:
        super().__init__(specs, num_classes)
        widths = [s.channels for s in specs]
        stages = []
        for i, cin in enumerate(widths):
            convs = _CONVS_PER_STAGE[min(i, len(_CONVS_PER_STAGE) - 1)]
            if i == 0:
                stages.append(_decoder_stage(cin, cin, convs - 1) if convs > 1 else nn.Identity())
            else:
                stages.append(_decoder_stage(cin, widths[i - 1], convs))
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Conv2d(widths[0], num_classes, 3, padding=1)

    def forward(  # type: ignore[override]
        self, features: list[torch.Tensor], indices: Sequence[tuple[torch.Tensor, Sequence[int]]]
    ) -> torch.Tensor:
        if len(indices) != len(self.stages):
            raise ValueError(f"SegNet has {len(self.stages)} stages but got {len(indices)} pooling indices")
        x = features[-1]
        for stage, (idx, size) in zip(reversed(self.stages), reversed(indices), strict=True):
            x = F.max_unpool2d(x, idx, kernel_size=(2, 2), stride=(2, 2), output_size=tuple(size))
            x = stage(x)
        return self.classifier(x)
