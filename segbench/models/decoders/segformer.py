"""SegFormer's all-MLP decoder (Xie et al., "SegFormer: Simple and Efficient Design for Semantic
Segmentation with Transformers", NeurIPS 2021).

Each of the four levels (strides 4, 8, 16, 32) is projected to a common
embedding width E by a per-pixel linear layer (a 1x1 conv with bias: the
same map, written so it runs on NCHW), upsampled to the stride-4 size and
concatenated; a linear fusion 4E -> E (no bias, then BN and ReLU, as the
authors' code has it: the paper writes only "MLP"), dropout 0.1 and a linear
classifier give logits at stride 4, upsampled bilinearly x4.

E is the paper's one knob: 256 for MiT-B0/B1, 768 for B2 and up. It cannot be
read off the encoder (B1 and B2 have the very same widths), and a grid row
must be rebuilt from its key columns alone, so E is part of the decoder's
name rather than an option an alias would pass on the side: ``segformer``
(E = 256) and ``segformer_768``, one class with ``embed_dim`` as its single
difference. ``SegFormerHead(specs, classes, embed_dim=E)`` takes any other E.

Published figures (ADE20K, 150 classes; a test checks them within 5%):
decoder 0.4 M (B0), 0.6 M (B1), 3.3 M (B2); SegFormer-B0/B1/B2 in all
3.8 M, 13.7 M, 27.5 M (paper, Table 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.decoders import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.models.spec import FeatureSpec, feature_at

STRIDES: tuple[int, ...] = (4, 8, 16, 32)


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


@DECODERS.register(
    "segformer",
    paper="Xie et al., SegFormer (all-MLP decoder, E = 256 as for MiT-B0/B1)",
    year=2021,
    needs="features at strides 4, 8, 16, 32",
    embed_dim=256,
)
class SegFormerHead(Decoder):
    """Per-level linear to E, upsample to stride 4, concatenate, linear fuse (BN, ReLU), classify, x4."""

    embed_dim: ClassVar[int] = 256

    def __init__(
        self, specs: Sequence[FeatureSpec], num_classes: int, embed_dim: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(specs, num_classes)
        e = embed_dim or self.embed_dim
        self.taps = tuple(feature_at(specs, s) for s in STRIDES)
        self.project = nn.ModuleList(nn.Conv2d(specs[i].channels, e, 1) for i in self.taps)
        self.fuse = nn.Sequential(
            nn.Conv2d(len(STRIDES) * e, e, 1, bias=False), nn.BatchNorm2d(e), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(e, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        levels = [proj(features[i]) for proj, i in zip(self.project, self.taps, strict=True)]
        size = levels[0].shape[-2:]
        fused = self.fuse(torch.cat([levels[0], *(_resize(x, size) for x in levels[1:])], dim=1))
        logits = self.classifier(self.dropout(fused))
        return _resize(logits, (logits.shape[-2] * STRIDES[0], logits.shape[-1] * STRIDES[0]))


@DECODERS.register(
    "segformer_768",
    paper="Xie et al., SegFormer (all-MLP decoder, E = 768 as for MiT-B2 to B5)",
    year=2021,
    needs="features at strides 4, 8, 16, 32",
    embed_dim=768,
)
class SegFormerHead768(SegFormerHead):
    """The same decoder with the embedding width of SegFormer-B2 and larger."""

    embed_dim: ClassVar[int] = 768
