"""CGNet (Wu, Tang, Zhang, Cao, Zhang 2018/2020, "CGNet: A Light-weight Context Guided Network for
Semantic Segmentation", arXiv:1811.08201, IEEE TIP 2021).

CGNet_M3N21 of the paper's Table 3: stage 1 is three 3x3 convs (32 maps, the
first strided), stage 2 has M = 3 context-guided (CG) blocks at 1/4 with
dilation 2 and 64 maps, stage 3 has N = 21 CG blocks at 1/8 with dilation 4 and
128 maps; the first block of stages 2 and 3 downsamples. A CG block joins a
local feature (3x3 channel-wise conv) with its surrounding context (dilated 3x3
channel-wise conv), then reweights channels by the global context (pooled,
two fully connected layers, sigmoid; reduction 8 in stage 2, 16 in stage 3),
with a global residual. The image, average-pooled, is injected into stages 1
and 2. A 1x1 conv classifies the 1/8 features, which are upsampled bilinearly.

Where the paper leaves details open we follow the authors' code: the
downsampling block convolves with 3x3/2 to the full width, fuses the joint
feature back with a 1x1 conv and has no residual; BatchNorm uses eps 1e-3 and
PReLU one slope per channel; the classifier drops 10% of its input channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segbench.models.networks import NETWORKS
from segbench.models.networks._common import InputInjection, bn_prelu, check_num_classes, conv_bn_prelu

#: The paper's best configuration: M CG blocks in stage 2, N in stage 3.
M_BLOCKS, N_BLOCKS = 3, 21


class GlobalContext(nn.Module):
    """f_glo: channel weights from the pooled feature (squeeze-and-excitation style)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class ContextGuidedBlock(nn.Module):
    """Local + surrounding (dilated) channel-wise convs, joined, refined by global context.

    Regular: 1x1 reduction to half the width, concatenation back to full width,
    residual. Downsampling: 3x3/2 conv to the full width, joint feature (twice
    the width) fused by a 1x1 conv, no residual.
    """

    def __init__(
        self, in_channels: int, out_channels: int, dilation: int, reduction: int, downsample: bool = False
    ) -> None:
        super().__init__()
        self.downsample = downsample
        inner = out_channels if downsample else out_channels // 2
        self.reduce = (
            conv_bn_prelu(in_channels, inner, 3, stride=2)
            if downsample
            else conv_bn_prelu(in_channels, inner, 1)
        )
        self.local = nn.Conv2d(inner, inner, 3, padding=1, groups=inner, bias=False)
        self.surround = nn.Conv2d(
            inner, inner, 3, padding=dilation, dilation=dilation, groups=inner, bias=False
        )
        self.joint = bn_prelu(2 * inner)
        self.fuse = nn.Conv2d(2 * inner, out_channels, 1, bias=False) if downsample else nn.Identity()
        self.glo = GlobalContext(out_channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.reduce(x)
        out = self.joint(torch.cat([self.local(out), self.surround(out)], dim=1))
        out = self.glo(self.fuse(out))
        return out if self.downsample else x + out


def _cg_stage(
    in_channels: int, width: int, blocks: int, dilation: int, reduction: int
) -> tuple[nn.Module, nn.Module]:
    down = ContextGuidedBlock(in_channels, width, dilation, reduction, downsample=True)
    rest = nn.Sequential(*(ContextGuidedBlock(width, width, dilation, reduction) for _ in range(blocks - 1)))
    return down, rest


@NETWORKS.register(
    "cgnet",
    paper="Wu et al., CGNet: A Light-weight Context Guided Network for Semantic Segmentation",
    year=2018,
    paper_params=0.5,
    paper_classes=19,
    params_source="paper, CGNet_M3N21 (0.5 M; 'less than 0.5 M' in the abstract), Cityscapes 19 classes",
)
class CGNet(nn.Module):
    def __init__(self, num_classes: int, m_blocks: int = M_BLOCKS, n_blocks: int = N_BLOCKS) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.stage1 = nn.Sequential(
            conv_bn_prelu(3, 32, 3, stride=2), conv_bn_prelu(32, 32, 3), conv_bn_prelu(32, 32, 3)
        )
        self.image_half = InputInjection(1)
        self.image_quarter = InputInjection(2)
        self.post1 = bn_prelu(32 + 3)
        self.down2, self.stage2 = _cg_stage(32 + 3, 64, m_blocks, dilation=2, reduction=8)
        self.post2 = bn_prelu(128 + 3)
        self.down3, self.stage3 = _cg_stage(128 + 3, 128, n_blocks, dilation=4, reduction=16)
        self.post3 = bn_prelu(256)
        self.classifier = nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(256, num_classes, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.post1(torch.cat([self.stage1(x), self.image_half(x)], dim=1))
        d2 = self.down2(s1)
        s2 = self.post2(torch.cat([self.stage2(d2), d2, self.image_quarter(x)], dim=1))
        d3 = self.down3(s2)
        s3 = self.post3(torch.cat([d3, self.stage3(d3)], dim=1))
        return F.interpolate(self.classifier(s3), size=x.shape[-2:], mode="bilinear", align_corners=False)
