"""Mix Transformer (MiT-B0, B1, B2), SegFormer's encoder (Xie et al., "SegFormer: Simple and
Efficient Design for Semantic Segmentation with Transformers", NeurIPS 2021).

Four stages, each an overlapping patch embedding (a strided conv, then
LayerNorm) followed by transformer blocks and a LayerNorm; features at
strides 4, 8, 16, 32 only (the first embedding is a 7x7 stride-4 conv, so
there is no stride-2 map and decoders that tap one answer not_applicable).
A block is pre-norm efficient self-attention, whose keys and values come from
the token map reduced by a ``R x R`` stride-``R`` conv (``R`` = 8, 4, 2, 1),
then pre-norm Mix-FFN: linear, 3x3 depthwise conv (the only positional cue;
MiT has no positional encoding), GELU, linear. Widths, depths, heads and
reduction ratios are the paper's Table 6 (MLP ratio 4, LayerNorm eps 1e-6).

Where the paper is silent, the readings taken: stochastic depth rises
linearly from 0 to 0.1 over all blocks (the paper's "drop path 0.1");
attention is written as explicit matmuls so that fvcore counts it; and the
embedding convs pad by ``k // 2``, so a stride-s map has ``ceil(H / s)`` rows,
as everywhere in segbench.

Dilation (for decoders that want output stride 8 or 16): a stage past the
target embeds with stride 1, its embedding conv dilated where its input is
already coarser than the target, and its depthwise convs dilated by the
stride it gave up, so receptive fields keep their size. The reduction convs
are left as they are: they shrink the key/value map, not the queries, so
the denser stage simply attends over more keys. The generic
:meth:`Encoder.dilate` would instead turn those reduction convs to stride 1.

Parameters without the ImageNet classifier (a test checks them): B0 3.32 M,
B1 13.15 M, B2 24.20 M; the paper's Table 1 gives 3.4, 13.1 and 24.2. The
3.7, 14.0 and 25.4 M sometimes quoted for "MiT-B0/B1/B2" are ImageNet
classifiers (PVT v2's figures); MiT's encoder with a 1000-way linear head
would be 3.58, 13.66 and 24.71 M. No ImageNet weights are bundled, so
``pretrained=True`` is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torchvision.ops import stochastic_depth

from segbench.models.encoders import ENCODERS
from segbench.models.encoders.base import Encoder
from segbench.models.pretrained import no_pretrained_weights
from segbench.models.spec import FeatureSpec

LN_EPS = 1e-6


@dataclass(frozen=True)
class MiTConfig:
    widths: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    heads: tuple[int, int, int, int] = (1, 2, 5, 8)
    reductions: tuple[int, int, int, int] = (8, 4, 2, 1)
    mlp_ratio: int = 4
    drop_path: float = 0.1


MIT_CONFIGS: dict[str, MiTConfig] = {
    "mit_b0": MiTConfig(widths=(32, 64, 160, 256), depths=(2, 2, 2, 2)),
    "mit_b1": MiTConfig(widths=(64, 128, 320, 512), depths=(2, 2, 2, 2)),
    "mit_b2": MiTConfig(widths=(64, 128, 320, 512), depths=(3, 4, 6, 3)),
}


class EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from the map shrunk ``reduction`` times per side."""

    def __init__(self, dim: int, heads: int, reduction: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.reduce: nn.Module | None = None
        self.reduce_norm: nn.Module | None = None
        if reduction > 1:
            self.reduce = nn.Conv2d(dim, dim, reduction, stride=reduction)
            self.reduce_norm = nn.LayerNorm(dim, eps=LN_EPS)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        n, length, c = t.shape
        return t.reshape(n, length, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        n, length, c = x.shape
        q = self._split(self.q(x))
        kv_in = x
        if self.reduce is not None and self.reduce_norm is not None:
            grid = x.transpose(1, 2).reshape(n, c, h, w)
            kv_in = self.reduce_norm(self.reduce(grid).flatten(2).transpose(1, 2))
        k, v = self.kv(kv_in).chunk(2, dim=-1)
        attn = (q @ self._split(k).transpose(-2, -1)) * self.scale
        out = attn.softmax(dim=-1) @ self._split(v)
        return self.proj(out.transpose(1, 2).reshape(n, length, c))


class MixFFN(nn.Module):
    """Linear up, 3x3 depthwise conv on the token grid, GELU, linear down."""

    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        hidden = dim * ratio
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(x)
        n, _, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(n, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))


class MiTBlock(nn.Module):
    """Pre-norm attention and Mix-FFN, each with a residual and stochastic depth."""

    def __init__(self, dim: int, heads: int, reduction: int, mlp_ratio: int, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = EfficientSelfAttention(dim, heads, reduction)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.ffn = MixFFN(dim, mlp_ratio)
        self.drop_path = drop_path

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.drop_path, "row", self.training)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self._drop(self.attn(self.norm1(x), h, w))
        return x + self._drop(self.ffn(self.norm2(x), h, w))


class MiTStage(nn.Module):
    """Overlapping patch embedding (strided conv + LayerNorm), blocks, LayerNorm; NCHW in and out."""

    def __init__(
        self, cin: int, dim: int, patch: int, stride: int, depth: int, heads: int, reduction: int,
        mlp_ratio: int, drop_paths: list[float],
    ) -> None:
        super().__init__()
        self.embed = nn.Conv2d(cin, dim, patch, stride=stride, padding=patch // 2)
        self.embed_norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.blocks = nn.ModuleList(MiTBlock(dim, heads, reduction, mlp_ratio, p) for p in drop_paths[:depth])
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        n, c, h, w = x.shape
        tokens = self.embed_norm(x.flatten(2).transpose(1, 2))
        for block in self.blocks:
            tokens = block(tokens, h, w)
        return self.norm(tokens).transpose(1, 2).reshape(n, c, h, w)

    def run_dense(self, input_dilation: int, stride_given_up: int) -> None:
        """Embed at stride 1 (dilated by ``input_dilation``); dilate the depthwise convs by the stride lost."""
        conv = self.embed
        k = conv.kernel_size[0]
        conv.stride = (1, 1)
        conv.dilation = (input_dilation, input_dilation)
        conv.padding = (input_dilation * (k // 2),) * 2
        for block in self.blocks:
            dw = cast(MiTBlock, block).ffn.dwconv
            dw.dilation = (stride_given_up, stride_given_up)
            dw.padding = (stride_given_up, stride_given_up)


class MiTEncoder(Encoder):
    """The four MiT stages; :meth:`dilate` keeps sequence reduction intact (see the module docstring)."""

    def __init__(self, config: MiTConfig) -> None:
        total = sum(config.depths)
        rates = [config.drop_path * i / max(total - 1, 1) for i in range(total)]
        stages, specs, cin, stride, start = [], [], 3, 1, 0
        for i, (dim, depth) in enumerate(zip(config.widths, config.depths, strict=True)):
            patch, step = (7, 4) if i == 0 else (3, 2)
            stride *= step
            stages.append(MiTStage(cin, dim, patch, step, depth, config.heads[i], config.reductions[i],
                                   config.mlp_ratio, rates[start:start + depth]))
            specs.append(FeatureSpec(dim, stride))
            cin, start = dim, start + depth
        super().__init__(stages, specs)
        self.apply(_init_weights)

    def dilate(self, output_stride: int) -> None:
        if output_stride >= self.output_stride:
            return
        if output_stride not in (8, 16):
            raise ValueError(f"output stride must be 8, 16 or 32, not {output_stride}")
        for stage, spec in zip(self.stages, self.feature_specs, strict=True):
            if spec.stride > output_stride:
                in_stride = spec.stride // 2
                cast(MiTStage, stage).run_dense(max(in_stride // output_stride, 1), spec.stride // output_stride)
        self.feature_specs = tuple(FeatureSpec(s.channels, min(s.stride, output_stride)) for s in self.feature_specs)
        self.output_stride = output_stride


def _init_weights(m: nn.Module) -> None:
    """Truncated normal (std 0.02) linears, fan-out normal convs, as the reference training recipe."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, std=(2.0 / fan_out) ** 0.5)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _register(name: str, label: str) -> None:
    def factory(pretrained: bool = False) -> Encoder:
        if pretrained:
            raise no_pretrained_weights(name)
        return MiTEncoder(MIT_CONFIGS[name])

    factory.__doc__ = f"{label}: widths {MIT_CONFIGS[name].widths}, depths {MIT_CONFIGS[name].depths}."
    ENCODERS.add(name, factory, source="segbench", paper=f"Xie et al., SegFormer ({label})", year=2021)


for _name, _label in (("mit_b0", "MiT-B0"), ("mit_b1", "MiT-B1"), ("mit_b2", "MiT-B2")):
    _register(_name, _label)
