"""A dense CRF as a differentiable mean-field module: the convolutional CRF of Teichmann & Cipolla (2018).

The fully connected CRF of Krähenbühl & Koltun (2011) sums messages over every
pixel pair; the ConvCRF keeps only pairs inside a ``k x k`` window, which
turns mean-field inference into a handful of shifted multiply-adds on the
GPU or CPU, exact (no permutohedral lattice) and differentiable. This one
works at full resolution (the paper's optional down-sampling "blur" is left
out) and normalises each kernel over its window, as pydensecrf does by
default, so its weights compare with unary log-probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD


class ConvCRF(nn.Module):
    """Mean-field inference of a Potts-model CRF with Gaussian kernels over a local window.

    Pairwise kernel between pixel ``i`` and a neighbour ``j`` of its window:
    ``w_app * exp(-|p_i-p_j|^2 / 2 theta_alpha^2 - |I_i-I_j|^2 / 2 theta_beta^2)``
    (appearance: nearby pixels of similar colour agree) plus
    ``w_smooth * exp(-|p_i-p_j|^2 / 2 theta_gamma^2)`` (smoothness), positions in
    pixels and colours in [0, 1]. With Potts compatibility the update is
    ``Q = softmax(unary + message)`` (the Potts penalty of the other labels
    differs from this only by a per-pixel constant). Defaults follow DeepLab's
    CRF weights (4 and 3) and ConvCRF's bandwidths (80 px, 13/255, 3 px) with
    a 7 x 7 window and 5 iterations; all five are parameters, so the CRF can be
    trained as a layer (``learnable=True``).

    ``image`` is the model's (normalised) input; ``mean``/``std`` undo the
    normalisation. Returns refined logits (before the last softmax).
    """

    mean: torch.Tensor  # buffers, [1, 3, 1, 1]
    std: torch.Tensor

    def __init__(
        self,
        iterations: int = 5,
        window: int = 7,
        w_app: float = 4.0,
        w_smooth: float = 3.0,
        theta_alpha: float = 80.0,
        theta_beta: float = 13.0 / 255.0,
        theta_gamma: float = 3.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        learnable: bool = False,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"CRF iterations must be a positive integer, not {iterations}")
        if window < 3 or window % 2 == 0:
            raise ValueError(f"the CRF window must be an odd size of at least 3, not {window}")
        self.iterations = iterations
        self.window = window

        def param(value: float) -> nn.Parameter:
            return nn.Parameter(torch.tensor(float(value)), requires_grad=learnable)

        self.w_app, self.w_smooth = param(w_app), param(w_smooth)
        self.theta_alpha, self.theta_beta = param(theta_alpha), param(theta_beta)
        self.theta_gamma = param(theta_gamma)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def offsets(self) -> list[tuple[int, int]]:
        r = self.window // 2
        return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if (dy, dx) != (0, 0)]

    def _shifted(self, padded: torch.Tensor, dy: int, dx: int, size: tuple[int, int]) -> torch.Tensor:
        r = self.window // 2
        return padded[..., r + dy : r + dy + size[0], r + dx : r + dx + size[1]]

    def kernel(self, image: torch.Tensor) -> torch.Tensor:
        """Both kernels, each normalised over the window and weighted: ``[N, k*k-1, H, W]``."""
        size = (image.shape[-2], image.shape[-1])
        r = self.window // 2
        rgb = image * self.std + self.mean
        rgb_pad = F.pad(rgb, (r, r, r, r))
        valid = F.pad(torch.ones_like(rgb[:, :1]), (r, r, r, r))
        app, smooth = [], []
        for dy, dx in self.offsets():
            inside = self._shifted(valid, dy, dx, size)[:, 0]
            colour = (rgb - self._shifted(rgb_pad, dy, dx, size)).pow(2).sum(1)
            dist2 = float(dy * dy + dx * dx)
            exponent = -dist2 / (2 * self.theta_alpha**2) - colour / (2 * self.theta_beta**2)
            app.append(inside * torch.exp(exponent))
            smooth.append(inside * torch.exp(-dist2 / (2 * self.theta_gamma**2)))
        app_k, smooth_k = torch.stack(app, 1), torch.stack(smooth, 1)
        app_k = app_k / app_k.sum(1, keepdim=True).clamp_min(1e-20)
        smooth_k = smooth_k / smooth_k.sum(1, keepdim=True).clamp_min(1e-20)
        return self.w_app * app_k + self.w_smooth * smooth_k

    def forward(self, image: torch.Tensor, unary: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] != unary.shape[-2:]:
            sizes = f"{tuple(image.shape[-2:])} and {tuple(unary.shape[-2:])}"
            raise ValueError(f"the CRF's image and unary must have one size, not {sizes}")
        size = (unary.shape[-2], unary.shape[-1])
        r = self.window // 2
        dtype = torch.promote_types(unary.dtype, torch.float32)  # fp32 under autocast, fp64 for gradcheck
        unary = unary.to(dtype)
        kernel = self.kernel(image.to(dtype)).to(dtype)
        logits = unary
        for _ in range(self.iterations):
            q_pad = F.pad(logits.softmax(dim=1), (r, r, r, r))
            message = torch.zeros_like(unary)
            for o, (dy, dx) in enumerate(self.offsets()):
                # in place: no copies
                message.addcmul_(kernel[:, o : o + 1], self._shifted(q_pad, dy, dx, size))
            logits = unary + message
        return logits
