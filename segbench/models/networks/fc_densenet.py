"""FC-DenseNet ("The One Hundred Layers Tiramisu"): DenseNet blocks in a U-shaped encoder-decoder.

Jégou, Drozdzal, Vazquez, Romero & Bengio, "The One Hundred Layers Tiramisu:
Fully Convolutional DenseNets for Semantic Segmentation", CVPR Workshops 2017.

Built from the paper's Tables 1 and 2: a 3x3 convolution with 48 filters, five
dense blocks each followed by a transition down (BN, ReLU, 1x1 conv, dropout,
2x2 max pooling), a bottleneck dense block, then five transitions up (3x3
transposed convolution, stride 2) each followed by a dense block, and a 1x1
classifier. To keep the parameter count from exploding, an up-path dense
block passes on only the feature maps it created, not its input; the last one
passes on everything (its input and its new maps), as in the authors' code.
Convolutions keep their biases, as in the authors' Lasagne code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import check_num_classes
from segbench.models.spec import align_to

#: Channels of the first convolution (Table 2).
STEM_CHANNELS = 48
DROPOUT = 0.2


class DenseLayer(nn.Sequential):
    """BN, ReLU, 3x3 convolution to ``growth_rate`` maps, dropout (Table 1, "Layer")."""

    def __init__(self, cin: int, growth_rate: int) -> None:
        super().__init__(
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, growth_rate, 3, padding=1),
            nn.Dropout2d(DROPOUT),
        )


class DenseBlock(nn.Module):
    """``num_layers`` dense layers, each seeing the block input and every earlier layer's maps.

    ``forward`` returns ``(input ++ new maps, new maps)``: the down path keeps
    the first, the up path upsamples only the second.
    """

    def __init__(self, cin: int, growth_rate: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth_rate, growth_rate) for i in range(num_layers))
        self.new_channels = growth_rate * num_layers
        self.out_channels = cin + self.new_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new: list[torch.Tensor] = []
        for layer in self.layers:
            new.append(layer(torch.cat([x, *new], dim=1)))
        grown = torch.cat(new, dim=1)
        return torch.cat([x, grown], dim=1), grown


class TransitionDown(nn.Sequential):
    """BN, ReLU, 1x1 convolution keeping the channel count, dropout, 2x2 max pooling (Table 1).

    Pooling rounds up (``ceil_mode``), so the up path can crop back to every skip at odd sizes.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
            nn.Dropout2d(DROPOUT),
            nn.MaxPool2d(2, ceil_mode=True),
        )


class TransitionUp(nn.Module):
    """3x3 transposed convolution, stride 2, keeping the channel count; crop to the skip; concatenate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([align_to(self.up(x), skip.shape[-2:]), skip], dim=1)


class FCDenseNet(nn.Module):
    """An FC-DenseNet given its growth rate and the layers of its 2n+1 dense blocks (down, bottleneck, up)."""

    def __init__(self, num_classes: int, growth_rate: int, block_layers: Sequence[int]) -> None:
        super().__init__()
        check_num_classes(num_classes)
        if len(block_layers) % 2 != 1:
            raise ValueError(
                f"block_layers needs 2n+1 entries (down, bottleneck, up), not {len(block_layers)}"
            )
        depth = len(block_layers) // 2
        self.stem = nn.Conv2d(3, STEM_CHANNELS, 3, padding=1)

        channels = STEM_CHANNELS
        self.down_blocks = nn.ModuleList()
        self.transitions_down = nn.ModuleList()
        skip_channels = []
        for n in block_layers[:depth]:
            block = DenseBlock(channels, growth_rate, n)
            channels = block.out_channels
            skip_channels.append(channels)
            self.down_blocks.append(block)
            self.transitions_down.append(TransitionDown(channels))

        self.bottleneck = DenseBlock(channels, growth_rate, block_layers[depth])
        upsampled = self.bottleneck.new_channels

        self.transitions_up = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for n, skip in zip(block_layers[depth + 1 :], reversed(skip_channels), strict=True):
            self.transitions_up.append(TransitionUp(upsampled))
            block = DenseBlock(upsampled + skip, growth_rate, n)
            self.up_blocks.append(block)
            upsampled = block.new_channels
        self.classifier = nn.Conv2d(cast(DenseBlock, self.up_blocks[-1]).out_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for block, down in zip(self.down_blocks, self.transitions_down, strict=True):
            x, _ = block(x)
            skips.append(x)
            x = down(x)
        stack, x = self.bottleneck(x)
        for up, block, skip in zip(self.transitions_up, self.up_blocks, reversed(skips), strict=True):
            stack, x = block(up(x, skip))
        return self.classifier(stack)  # the last up block passes on its whole stack


_PAPER = (
    "Jégou et al., The One Hundred Layers Tiramisu: Fully Convolutional DenseNets for Semantic Segmentation"
)


@NETWORKS.register(
    "fc_densenet56",
    paper=_PAPER,
    year=2017,
    paper_params=1.38,
    paper_classes=11,
    params_source=(
        "layer-by-layer count of Table 2 (4 layers per block, growth rate 12): 1.38 M; "
        "the paper's Table 3 says 1.5 M, which no reading of its own table reproduces"
    ),
)
class FCDenseNet56(FCDenseNet):
    """Growth rate 12, 4 layers in each of the 11 dense blocks."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, growth_rate=12, block_layers=[4] * 11)


@NETWORKS.register(
    "fc_densenet67",
    paper=_PAPER,
    year=2017,
    paper_params=3.5,
    paper_classes=11,
    params_source="Table 3 (CamVid)",
)
class FCDenseNet67(FCDenseNet):
    """Growth rate 16, 5 layers in each of the 11 dense blocks."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, growth_rate=16, block_layers=[5] * 11)


@NETWORKS.register(
    "fc_densenet103",
    paper=_PAPER,
    year=2017,
    paper_params=9.4,
    paper_classes=11,
    params_source="Table 3 (CamVid)",
)
class FCDenseNet103(FCDenseNet):
    """Growth rate 16, dense blocks of 4, 5, 7, 10, 12 layers, a 15-layer bottleneck, then mirrored (Table 2)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, growth_rate=16, block_layers=[4, 5, 7, 10, 12, 15, 12, 10, 7, 5, 4])
