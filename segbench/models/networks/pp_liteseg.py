"""PP-LiteSeg-T and PP-LiteSeg-B: an STDC encoder, a simple pyramid pooling module and a decoder
whose width shrinks as its resolution grows, fused by attention.

Peng et al., "PP-LiteSeg: A Superior Real-Time Semantic Segmentation Model",
arXiv:2204.02681, 2022.

- Encoder: STDC1 (PP-LiteSeg-T) or STDC2 (PP-LiteSeg-B); the features at
  strides 8, 16 and 32 are used (:mod:`segbench.models.encoders.stdc`).
- SPPM (simple pyramid pooling, Fig. 5): average pools to 1x1, 2x2 and 4x4
  bins, each a 1x1 conv-BN-ReLU to 128 channels, upsampled and *summed* (not
  concatenated), then a 3x3 conv-BN-ReLU.
- FLD (flexible lightweight decoder, Fig. 3): from stride 32 to stride 8 the
  channels decrease, 128, 64, 32 for T and 128, 96, 64 for B (the paper's
  table of decoder channels), one UAFM per stride.
- UAFM (unified attention fusion, Fig. 4a with the spatial attention of
  Fig. 4b): the deeper output is upsampled bilinearly; the encoder feature
  goes through a 3x3 conv-BN-ReLU to the same width; a weight
  ``alpha = sigmoid(conv(cat(mean_c, max_c of both)))`` mixes them as
  ``up * alpha + low * (1 - alpha)``; a 3x3 conv-BN-ReLU gives the stride's
  output width.
- Seg head on the stride-8 output: 3x3 conv-BN-ReLU, 1x1 conv, bilinear
  upsampling to the input.

The paper is silent on the attention conv widths, the seg heads' widths and
deep supervision; the authors' PaddleSeg code is followed: attention convs
4->2 (BN, ReLU) and 2->1 (BN), seg head widths 32 (T) / 64 (B) at stride 8,
and training-only seg heads on the stride-16 and stride-32 decoder outputs
(64 wide). The paper gives no parameter count; the registered figure is
derived from the STDC paper's backbone counts (8.44 M, 12.47 M) less their
ImageNet head (3.13 M) plus this decoder at 19 classes (T 2.71 M, B 2.89 M).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders.base import TrainingOnly
from segbench.models.encoders.stdc import stdc_encoder
from segbench.models.layers import ConvNormAct
from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes
from segbench.models.networks.stdc_seg import seg_head

SPPM_BINS = (1, 2, 4)
SPPM_CHANNELS = 128
#: Decoder widths at strides 8, 16, 32 (the paper's "channels in decoder").
DECODER_CHANNELS = {"t": (32, 64, 128), "b": (64, 96, 128)}
#: Seg head widths at strides 8, 16, 32 (the authors' configs).
HEAD_CHANNELS = {"t": (32, 64, 64), "b": (64, 64, 64)}


def _resize(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SimplePyramidPooling(nn.Module):
    """SPPM: pooled bins, each 1x1 conv-BN-ReLU, upsampled and summed, then a 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, mid: int, cout: int, bins: Sequence[int] = SPPM_BINS) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvNormAct(cin, mid, kernel_size=1)) for b in bins
        )
        self.project = ConvNormAct(mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return self.project(sum(_resize(stage(x), size) for stage in self.stages))


class SpatialAttentionFusion(nn.Module):
    """UAFM with spatial attention: mixes the upsampled deep map and the encoder feature by a learned weight."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int) -> None:
        super().__init__()
        self.low = ConvNormAct(low_channels, high_channels)
        self.attention = nn.Sequential(
            ConvNormAct(4, 2),
            nn.Conv2d(2, 1, 3, padding=1, bias=False),
            nn.BatchNorm2d(1),
            nn.Sigmoid(),
        )
        self.out = ConvNormAct(high_channels, out_channels)

    @staticmethod
    def _mean_max(x: torch.Tensor) -> list[torch.Tensor]:
        return [x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)]

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        low = self.low(low)
        up = _resize(high, low.shape[-2:])
        alpha = self.attention(torch.cat([*self._mean_max(up), *self._mean_max(low)], dim=1))
        return self.out(up * alpha + low * (1 - alpha))


class PPLiteSeg(nn.Module):
    """STDC encoder, SPPM, three UAFMs from stride 32 to 8, seg head; deeper seg heads in training."""

    def __init__(self, num_classes: int, size: str) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.backbone = stdc_encoder("stdc1" if size == "t" else "stdc2")
        encoder_channels = [s.channels for s in self.backbone.feature_specs[2:]]  # strides 8, 16, 32
        decoder_channels = DECODER_CHANNELS[size]
        self.context = SimplePyramidPooling(encoder_channels[-1], SPPM_CHANNELS, SPPM_CHANNELS)
        deeper = (*decoder_channels[1:], SPPM_CHANNELS)
        # Indexed by stride 8, 16, 32; run from 32 down.
        self.fusions = nn.ModuleList(
            SpatialAttentionFusion(low, high, out)
            for low, high, out in zip(encoder_channels, deeper, decoder_channels, strict=True)
        )
        heads = [seg_head(c, mid, num_classes) for c, mid in zip(decoder_channels, HEAD_CHANNELS[size], strict=True)]
        self.head = heads[0]
        self.aux = nn.ModuleList(TrainingOnly(h) for h in heads[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        features = self.backbone(x)[2:]
        high = self.context(features[-1])
        outputs: list[torch.Tensor] = []
        for feature, fusion in zip(reversed(features), reversed(self.fusions), strict=True):
            high = fusion(feature, high)
            outputs.insert(0, high)
        main = _resize(self.head(outputs[0]), size)
        if not self.training:
            return main
        return (main, *(_resize(head(o), size) for head, o in zip(self.aux, outputs[1:], strict=True)))


_PAPER = "Peng et al., PP-LiteSeg: A Superior Real-Time Semantic Segmentation Model"
_SOURCE = (
    "no count in the paper; derived: the STDC paper's {backbone} count ({imagenet} M with its ImageNet head) "
    "less that head (3.13 M), plus SPPM, FLD and seg head at the paper's decoder widths ({decoder} M, "
    "19 classes); training-only seg heads excluded"
)


@NETWORKS.register(
    "pp_liteseg_t",
    paper=_PAPER,
    year=2022,
    paper_params=8.02,
    paper_classes=19,
    params_source=_SOURCE.format(backbone="STDC1", imagenet=8.44, decoder=2.71),
)
class PPLiteSegT(PPLiteSeg):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, "t")


@NETWORKS.register(
    "pp_liteseg_b",
    paper=_PAPER,
    year=2022,
    paper_params=12.23,
    paper_classes=19,
    params_source=_SOURCE.format(backbone="STDC2", imagenet=12.47, decoder=2.89),
)
class PPLiteSegB(PPLiteSeg):
    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, "b")
