"""Label Refinement Network: a SegNet-like encoder-decoder that predicts labels coarse to fine.

Islam, Naha, Rochan, Bruce & Wang, "Label Refinement Network for
Coarse-to-Fine Semantic Segmentation", arXiv:1703.00551, 2017.

The encoder is VGG16's 13 convolutions (with batch norm, as SegNet's) and
five 2x2 max poolings that remember their indices; the decoder mirrors it
with max unpooling. From the first decoder stage (1/16) a 3x3 convolution
predicts a coarse label map; at each finer stage (1/8, 1/4, 1/2, 1) a
refinement module concatenates the decoder's features with the previous label
map (bilinearly upsampled) and predicts a finer map with a 3x3 convolution.
Every label map is supervised (deep supervision), so in training mode the
network returns ``(full-resolution map, 1/16, 1/8, 1/4, 1/2 maps)`` all
upsampled to the input size. Each coarse map feeds the next one, so all
prediction heads belong to the inference network (none is training-only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes

#: SegNet's decoder stages, deepest first: output channels of each 3x3 conv-BN-ReLU.
DECODER_STAGES = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))
#: Stride of each decoder stage's output, i.e. of each label map, coarse to fine.
PREDICTION_STRIDES = (16, 8, 4, 2, 1)


#: VGG16's five stages: output channels of each 3x3 convolution (configuration "D").
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _vgg16_bn_stages() -> nn.ModuleList:
    """VGG16-BN's 13 convolutions (3x3 with bias, BN, ReLU) as five stages, without the pools.

    Written out rather than taken from torchvision, whose constructor would
    also build (and initialise) VGG's 120 M-parameter classifier.
    """
    stages, cin = nn.ModuleList(), 3
    for widths in VGG16_STAGES:
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            cin = width
        stages.append(nn.Sequential(*layers))
    return stages


class DecoderStage(nn.Module):
    """Max unpooling with the encoder's indices to the encoder's pre-pooling size, then 3x3 conv-BN-ReLUs."""

    def __init__(self, cin: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.Sequential(*(ConvNormAct(c, w) for c, w in zip((cin, *widths[:-1]), widths, strict=True)))

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.convs(F.max_unpool2d(x, indices, (2, 2), output_size=size))


class LabelRefinement(nn.Module):
    """3x3 convolution from decoder features and the upsampled coarser label map to a label map."""

    def __init__(self, feature_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(feature_channels + num_classes, num_classes, 3, padding=1)

    def forward(self, features: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        coarse = F.interpolate(coarse, size=features.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([features, coarse], dim=1))


@NETWORKS.register(
    "lrn",
    paper="Islam et al., Label Refinement Network for Coarse-to-Fine Semantic Segmentation",
    year=2017,
    paper_params=29.6,
    paper_classes=11,
    params_source=(
        "derived; the paper states no count: VGG16-BN encoder (14.72 M) + SegNet's mirrored decoder "
        "without biases (14.75 M) + five 3x3 label convolutions (0.11 M at 11 classes) = 29.59 M"
    ),
)
class LabelRefinementNetwork(nn.Module):
    """LRN: SegNet encoder-decoder, a 1/16 label map refined at 1/8, 1/4, 1/2 and full resolution."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.encoder = _vgg16_bn_stages()
        self.decoder = nn.ModuleList()
        cin = 512
        for widths in DECODER_STAGES:
            self.decoder.append(DecoderStage(cin, widths))
            cin = widths[-1]
        self.coarse_label = nn.Conv2d(DECODER_STAGES[0][-1], num_classes, 3, padding=1)
        self.refinements = nn.ModuleList(LabelRefinement(w[-1], num_classes) for w in DECODER_STAGES[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        pooled = []
        for stage in self.encoder:
            x = stage(x)
            pre_pool = (int(x.shape[-2]), int(x.shape[-1]))  # plain ints: a traced size breaks unpooling
            x, indices = F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
            pooled.append((indices, pre_pool))
        labels: list[torch.Tensor] = []
        for i, stage in enumerate(self.decoder):
            indices, pre_pool = pooled.pop()
            x = stage(x, indices, pre_pool)
            labels.append(self.coarse_label(x) if i == 0 else self.refinements[i - 1](x, labels[-1]))
        if not self.training:
            return labels[-1]
        coarse = [F.interpolate(s, size=size, mode="bilinear", align_corners=False) for s in labels[:-1]]
        return (labels[-1], *coarse)
