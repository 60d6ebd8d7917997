"""VGG-16 with batch norm, cut from torchvision, that can also return its max-pooling indices.

SegNet (Badrinarayanan et al., TPAMI 2017) upsamples with the encoder's
max-pooling indices, so this encoder offers :meth:`VggBnEncoder.forward_with_indices`
beside the plain :meth:`forward` (which stays a list of features, traceable by
``torch.jit.trace``). Its modules are torchvision's ``vgg16_bn.features``
unchanged, so the ImageNet weights load and the parameter count is
torchvision's minus the classifier.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.encoders.torchvision_backed import vgg_specs, vgg_stages


class PoolIndices(NamedTuple):
    """One stage's max-pooling indices and the size it pooled from (MaxUnpool2d's ``output_size``)."""

    indices: torch.Tensor
    size: tuple[int, int]


class VggBnEncoder(Encoder):
    """Five stages, each a run of conv-BN-ReLU ending in a 2x2/2 max pool (rounding up)."""

    provides_pool_indices: bool = True

    def forward_with_indices(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[PoolIndices]]:
        """The features of :meth:`forward`, and per stage the pooling indices and pre-pool size."""
        if not self.provides_pool_indices:
            raise RuntimeError("a dilated VGG encoder no longer pools by 2 and gives no pooling indices")
        features: list[torch.Tensor] = []
        indices: list[PoolIndices] = []
        for stage in self.stages:
            *convs, last = cast(nn.Sequential, stage)
            pool = cast(nn.MaxPool2d, last)  # every stage ends in its max pool (vgg_stages)
            for layer in convs:
                x = layer(x)
            size = (int(x.shape[-2]), int(x.shape[-1]))
            x, idx = F.max_pool2d(
                x,
                pool.kernel_size,
                pool.stride,
                pool.padding,
                pool.dilation,
                ceil_mode=pool.ceil_mode,
                return_indices=True,
            )
            features.append(x)
            indices.append(PoolIndices(idx, size))
        return features, indices

    def dilate(self, output_stride: int) -> None:
        """Dilate as any encoder; the pools then no longer halve, so the indices are withdrawn."""
        before = self.output_stride
        super().dilate(output_stride)
        if self.output_stride < before:
            self.provides_pool_indices = False


def _vgg_bn(name: str, pretrained: bool) -> VggBnEncoder:
    return VggBnEncoder(vgg_stages(name, pretrained), vgg_specs())


@ENCODERS.register(
    "vgg16_bn",
    source="torchvision",
    paper="Simonyan & Zisserman, Very Deep Convolutional Networks (with batch norm)",
    year=2014,
)
def vgg16_bn(pretrained: bool = False) -> VggBnEncoder:
    return _vgg_bn("vgg16_bn", pretrained)
