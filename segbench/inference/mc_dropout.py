"""Monte-Carlo dropout (Kendall et al., Bayesian SegNet, 2017): N stochastic passes, their mean and spread."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from segbench.models.decoders import NotApplicable
from segbench.outputs import open_atomic, prepare_dir

DROPOUT_TYPES = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout
)


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, DROPOUT_TYPES) and m.p > 0]


@dataclass(frozen=True)
class Uncertainty:
    """Per-pixel results of the passes.

    Mean probabilities ``[N, C, H, W]``; entropy and variance ``[N, H, W]``.
    """

    mean: torch.Tensor
    entropy: torch.Tensor
    variance: torch.Tensor


class MCDropout(nn.Module):
    """Keeps ``model``'s dropout layers sampling at inference and averages ``samples`` passes.

    Batch norm stays in eval mode; only dropout is stochastic. The output is
    the log of the mean softmax probabilities (Bayesian SegNet's prediction);
    :meth:`uncertainty` also gives the predictive entropy and the variance of
    the predicted class's probability over the passes. A model with no
    dropout layer is refused (:class:`NotApplicable`): its N passes would be
    identical and the "uncertainty" zero. Dropout is inserted nowhere.
    """

    def __init__(self, model: nn.Module, samples: int, keep_last: bool = False) -> None:
        super().__init__()
        if samples < 2:
            raise ValueError(f"MC dropout needs at least 2 samples, not {samples}")
        if not dropout_layers(model):
            raise NotApplicable(
                "MC dropout needs dropout layers and this model has none "
                "(decoders with dropout: fcn8s, fcn16s, fcn32s, psp, deeplabv1, deeplabv3, deeplabv3plus)"
            )
        self.model = model
        self.samples = samples
        #: With ``keep_last``, the :class:`Uncertainty` of the latest forward, for saving maps.
        self.keep_last = keep_last
        self.last: Uncertainty | None = None

    def uncertainty(self, x: torch.Tensor) -> Uncertainty:
        was_training = self.model.training
        self.model.eval()
        for layer in dropout_layers(self.model):
            layer.train()
        try:
            probs = torch.stack([self.model(x).float().softmax(dim=1) for _ in range(self.samples)])
        finally:
            self.model.train(was_training)
        mean = probs.mean(0)
        entropy = -(mean * mean.clamp_min(1e-12).log()).sum(1)
        predicted = mean.argmax(1, keepdim=True)
        variance = probs.gather(2, predicted.unsqueeze(0).expand(self.samples, -1, -1, -1, -1)).var(0)[:, 0]
        return Uncertainty(mean, entropy, variance)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.training:
            return self.model(x)
        result = self.uncertainty(x)
        if self.keep_last:
            self.last = result
        return result.mean.clamp_min(1e-12).log()


def save_uncertainty_maps(result: Uncertainty, stems: list[str], out_dir: Path) -> list[Path]:
    """Write ``<stem>_entropy.png`` and ``<stem>_variance.png`` (8-bit grey, white = uncertain).

    Entropy is scaled by its maximum ``log C``, variance by its maximum 1/4
    (a probability's), so images compare across models and datasets.
    """
    out_dir = prepare_dir(out_dir)
    num_classes = result.mean.shape[1]
    written = []
    for i, stem in enumerate(stems):
        for name, value, top in (("entropy", result.entropy[i], math.log(max(num_classes, 2))),
                                 ("variance", result.variance[i], 0.25)):
            grey = (value.detach().float().cpu().numpy() / top).clip(0, 1) * 255
            path = out_dir / f"{stem}_{name}.png"
            with open_atomic(path, "wb") as f:
                Image.fromarray(np.round(grey).astype(np.uint8)).save(f, format="PNG")
            written.append(path)
    return written
