"""OCR: object-contextual representations (Yuan, Chen & Wang, "Object-Contextual Representations
for Semantic Segmentation", ECCV 2020), on HRNetV2's concatenated features.

1. Pixel representations: the encoder's strides 4-32, upsampled to stride 4
   and concatenated (as HRNetV2 does), then a 3x3 conv to 512 + BN + ReLU.
2. Soft object regions: a coarse segmentation from the concatenated features
   (1x1 conv + BN + ReLU, 1x1 scores), softmax over the pixels per class.
3. Object region representations: each class's region-weighted sum of the
   pixel representations (K vectors of 512).
4. Pixel-region relation: scaled dot-product attention of each pixel
   (query) over the K regions (keys), both through two 1x1 conv-BN-ReLU
   transforms to 256 channels.
5. Augmented representation: the attention-weighted region values (1x1 to
   256, back up to 512), concatenated with the pixel representation, 1x1 to
   512 + BN + ReLU, dropout 0.05, 1x1 scores, bilinear x4.

The soft-region head is on the inference path (step 3 needs its output), so
unlike PSPNet's auxiliary head it is not :class:`TrainingOnly`: it counts in
params and FLOPs. Only its supervision is training-only: in training mode the
decoder also returns the coarse logits, which the loss weighs as an
auxiliary output (0.4; the paper's weight is 0.4 too).

Widths (512 and 256) and the 1x1 head of the soft regions follow the authors'
HRNet-OCR code where the paper gives only the structure. Parameters,
HRNetV2-W48 + OCR, 19 classes: 70.37 M (soft-region head included); the
authors' README lists 70.3 M.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.decoders.hrnet_head import STRIDES, ConcatPyramid, pointwise_head, upsample
from segbench.models.layers import ConvNormAct
from segbench.models.spec import FeatureSpec


def _transform(cin: int, cout: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += ConvNormAct(cin if i == 0 else cout, cout, kernel_size=1)
    return nn.Sequential(*mods)


def gather_regions(features: torch.Tensor, region_logits: torch.Tensor) -> torch.Tensor:
    """Object region representations ``[N, C, K, 1]``: features averaged under each class's spatial softmax."""
    weights = region_logits.flatten(2).softmax(dim=-1)  # [N, K, HW]
    regions = weights @ features.flatten(2).transpose(1, 2)  # [N, K, C]
    return regions.transpose(1, 2).unsqueeze(-1)


class ObjectContext(nn.Module):
    """Pixel-region relation and the object-contextual representation of every pixel."""

    def __init__(self, channels: int, key_channels: int) -> None:
        super().__init__()
        self.key_channels = key_channels
        self.query = _transform(channels, key_channels, 2)
        self.key = _transform(channels, key_channels, 2)
        self.value = _transform(channels, key_channels, 1)
        self.up = _transform(key_channels, channels, 1)

    def forward(self, pixels: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        n, _, h, w = pixels.shape
        q = self.query(pixels).flatten(2).transpose(1, 2)  # [N, HW, Ck]
        k = self.key(regions).flatten(2)  # [N, Ck, K]
        v = self.value(regions).flatten(2).transpose(1, 2)  # [N, K, Ck]
        relation = ((q @ k) * self.key_channels**-0.5).softmax(dim=-1)  # [N, HW, K]
        context = (relation @ v).transpose(1, 2).reshape(n, self.key_channels, h, w)
        return self.up(context)


@DECODERS.register(
    "ocr",
    paper="Yuan et al., Object-Contextual Representations (OCR, on HRNetV2's concatenation)",
    year=2020,
    needs="features at strides 4, 8, 16, 32; soft-region head supervised as an auxiliary output",
)
class OCRHead(Decoder):
    """Concatenate strides 4-32; soft regions; region representations; relation; augmented; classify."""

    def __init__(
        self, specs: Sequence[FeatureSpec], num_classes: int, channels: int = 512, key_channels: int = 256,
        dropout: float = 0.05,
    ) -> None:
        super().__init__(specs, num_classes)
        self.concat = ConcatPyramid(specs)
        cin = self.concat.out_channels
        self.regions = pointwise_head(cin, num_classes)
        self.pixels = ConvNormAct(cin, channels)
        self.context = ObjectContext(channels, key_channels)
        self.augment = nn.Sequential(
            *ConvNormAct(2 * channels, channels, kernel_size=1), nn.Dropout2d(dropout)
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.concat(features)
        coarse = self.regions(x)
        pixels = self.pixels(x)
        context = self.context(pixels, gather_regions(pixels, coarse))
        main = upsample(self.classifier(self.augment(torch.cat([context, pixels], dim=1))), STRIDES[0])
        if not self.training:
            return main
        return main, upsample(coarse, STRIDES[0])
