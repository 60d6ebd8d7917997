"""Segmentation losses, chosen per run by name (``TrainConfig.loss``, ``--loss``, a suite's ``loss``).

Every entry of :data:`LOSSES` is a factory ``(ignore_index, weight) -> module``;
the module maps logits ``N x C x H x W`` and labels ``N x H x W`` to a scalar.
Pixels labelled ``ignore_index`` contribute nothing, neither to the value nor
to the gradient. Per-class weights (median frequency, ``--class-weights``)
are taken by the losses that average over pixels (``ce``, ``focal``,
``ohem``: a weighted mean, as ``nn.CrossEntropyLoss`` does); ``dice`` and
``lovasz`` already average over classes, so :func:`build_loss` refuses
weights for them rather than silently dropping them.

Defaults: focal ``gamma = 2`` (Lin et al. 2017); OHEM keeps pixels whose
probability of the true class is below ``0.7``, and at least the hardest
tenth of the batch's valid pixels (mmsegmentation's Cityscapes OHEM
configs keep at least 100 000 of the 2 x 512 x 1024 pixels a GPU sees per
step; a share rather than a count keeps OHEM from turning into plain
cross-entropy on small inputs); Dice adds ``1`` to numerator and
denominator and pools the batch's pixels per class; Lovász averages over
the classes present in the batch's labels (Berman et al. 2018,
``classes='present', per_image=False``). Losses are computed in float32
whatever the autocast precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from segbench.registry import Card, Registry


@dataclass(frozen=True, kw_only=True)
class LossCard(Card):
    #: Whether the loss takes per-class weights (``--class-weights``).
    class_weights: bool = False


LossFactory = Callable[..., nn.Module]  # (ignore_index, weight[, label_smoothing])
LOSSES: Registry[LossFactory] = Registry("loss", LossCard)

FOCAL_GAMMA = 2.0
OHEM_THRESHOLD = 0.7
OHEM_MIN_KEPT_FRACTION = 0.1
DICE_SMOOTH = 1.0


def _valid_pixels(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits (P x C, float32) and labels (P) of the pixels that are not ignored."""
    flat = logits.movedim(1, -1).reshape(-1, logits.shape[1]).float()
    labels = target.reshape(-1)
    keep = labels != ignore_index
    return flat[keep], labels[keep]


def _weighted_mean(values: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over pixels, each weighted by its class's weight (``nn.CrossEntropyLoss``'s convention)."""
    if values.numel() == 0:
        return values.sum()  # zero, still attached to the graph
    if weight is None:
        return values.mean()
    w = weight.to(values.dtype)[labels]
    return (w * values).sum() / w.sum()


class FocalLoss(nn.Module):
    """Focal loss ``-(1 - p_t)^gamma log p_t`` (Lin et al. 2017): easy pixels count less.

    ``gamma = 0`` is cross-entropy exactly (weights included).
    """

    weight: torch.Tensor | None  # a buffer: moves with the module

    def __init__(
        self, ignore_index: int, weight: torch.Tensor | None = None, gamma: float = FOCAL_GAMMA
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal gamma must be non-negative, not {gamma}")
        self.ignore_index, self.gamma = ignore_index, gamma
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _valid_pixels(logits, target, self.ignore_index)
        log_pt = x.log_softmax(1).gather(1, y[:, None]).squeeze(1)
        loss = -((1 - log_pt.exp()) ** self.gamma) * log_pt
        return _weighted_mean(loss, y, self.weight)


class OhemCrossEntropyLoss(nn.Module):
    """Cross-entropy over the hard pixels only (online hard example mining).

    A pixel is hard when its probability of the true class is below
    ``threshold``; if fewer than ``min_kept_fraction`` of the valid pixels
    are (rounded up), that many of the least probable are kept instead, so
    late in training the loss still sees a share of the batch.
    """

    weight: torch.Tensor | None  # a buffer: moves with the module

    def __init__(
        self,
        ignore_index: int,
        weight: torch.Tensor | None = None,
        threshold: float = OHEM_THRESHOLD,
        min_kept_fraction: float = OHEM_MIN_KEPT_FRACTION,
    ) -> None:
        super().__init__()
        if not 0 < threshold <= 1 or not 0 <= min_kept_fraction <= 1:
            raise ValueError(f"OHEM needs 0 < threshold <= 1 and 0 <= min_kept_fraction <= 1, "
                             f"not {threshold}, {min_kept_fraction}")
        self.ignore_index, self.threshold, self.min_kept_fraction = ignore_index, threshold, min_kept_fraction
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _valid_pixels(logits, target, self.ignore_index)
        nll = F.cross_entropy(x, y, reduction="none")
        p_true = (-nll.detach()).exp()
        hard = p_true < self.threshold
        min_kept = math.ceil(self.min_kept_fraction * len(p_true))
        if int(hard.sum()) < min_kept:
            hard = torch.zeros_like(hard)
            hard[p_true.topk(min_kept, largest=False).indices] = True
        return _weighted_mean(nll[hard], y[hard], self.weight)


class DiceLoss(nn.Module):
    """Soft multi-class Dice: ``1 - mean_c (2 |P_c . G_c| + s) / (|P_c| + |G_c| + s)``.

    ``P_c`` are the softmax probabilities of class ``c`` and ``G_c`` its
    one-hot labels over all valid pixels of the batch; every class counts, a
    class absent from the labels through its predicted mass alone.
    """

    def __init__(self, ignore_index: int, smooth: float = DICE_SMOOTH) -> None:
        super().__init__()
        self.ignore_index, self.smooth = ignore_index, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _valid_pixels(logits, target, self.ignore_index)
        probs = x.softmax(1)
        onehot = F.one_hot(y, logits.shape[1]).to(probs.dtype)
        overlap = (probs * onehot).sum(0)
        total = probs.sum(0) + onehot.sum(0)
        dice = (2 * overlap + self.smooth) / (total + self.smooth)
        return 1 - dice.mean()


def jaccard_increments(fg_sorted: torch.Tensor) -> torch.Tensor:
    """The Lovász extension's gradient of the Jaccard loss, column by column.

    ``fg_sorted`` (P x C) holds each class's foreground indicator with the
    pixels sorted by decreasing error; entry ``i`` is how much the Jaccard
    loss grows when the ``i``-th worst pixel joins the mispredicted set.
    """
    total = fg_sorted.sum(0)
    intersection = total - fg_sorted.cumsum(0)
    union = total + (1 - fg_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lovász-softmax on probabilities ``P x C`` and labels ``P``, over the classes present in ``labels``."""
    fg = F.one_hot(labels, probs.shape[1]).to(probs.dtype)
    errors = (fg - probs).abs()
    errors_sorted, order = errors.sort(0, descending=True)
    per_class = (errors_sorted * jaccard_increments(fg.gather(0, order))).sum(0)
    present = (fg.sum(0) > 0).to(probs.dtype)
    return (per_class * present).sum() / present.sum().clamp(min=1)


class LovaszSoftmaxLoss(nn.Module):
    """Lovász-softmax (Berman et al. 2018): a convex surrogate of the mean Jaccard loss (1 - IoU).

    At hard (one-hot) probabilities it equals ``1 - IoU`` averaged over the
    classes present in the batch's labels.
    """

    def __init__(self, ignore_index: int) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _valid_pixels(logits, target, self.ignore_index)
        return lovasz_softmax(x.softmax(1), y)


@LOSSES.register("ce", paper="-", year="-", class_weights=True)
def cross_entropy(ignore_index: int, weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> nn.Module:
    return nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing)


@LOSSES.register("focal", paper="Focal Loss for Dense Object Detection", year=2017, class_weights=True)
def focal(ignore_index: int, weight: torch.Tensor | None = None) -> nn.Module:
    return FocalLoss(ignore_index, weight)


@LOSSES.register("ohem", paper="Online Hard Example Mining (as in OCNet)", year=2016, class_weights=True)
def ohem(ignore_index: int, weight: torch.Tensor | None = None) -> nn.Module:
    return OhemCrossEntropyLoss(ignore_index, weight)


@LOSSES.register("dice", paper="V-Net (soft Dice)", year=2016, class_weights=False)
def dice(ignore_index: int, weight: torch.Tensor | None = None) -> nn.Module:
    return DiceLoss(ignore_index)


@LOSSES.register("lovasz", paper="The Lovász-Softmax Loss", year=2018, class_weights=False)
def lovasz(ignore_index: int, weight: torch.Tensor | None = None) -> nn.Module:
    return LovaszSoftmaxLoss(ignore_index)


def weighted_losses() -> list[str]:
    return [n for n in LOSSES.names() if LOSSES.metadata(n)["class_weights"]]


#: The losses that take ``label_smoothing`` (the factory's third argument).
SMOOTHED_LOSSES = ("ce",)


def check_loss(name: str, class_weights: bool = False, label_smoothing: float = 0.0) -> None:
    """A one-line ``ValueError`` for an unknown loss, or an option (class weights, label smoothing) it does not take."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss '{name}'; valid: {', '.join(LOSSES.names())}")
    if label_smoothing and name not in SMOOTHED_LOSSES:
        raise ValueError(f"loss '{name}' takes no label smoothing; it works with {', '.join(SMOOTHED_LOSSES)}")
    if class_weights and not LOSSES.metadata(name)["class_weights"]:
        raise ValueError(
            f"loss '{name}' takes no class weights (it averages over classes already); "
            f"class weights work with {', '.join(weighted_losses())}"
        )


def build_loss(
    name: str, ignore_index: int, weight: torch.Tensor | None = None, label_smoothing: float = 0.0
) -> nn.Module:
    """The loss ``name`` for labels with ``ignore_index``, with optional per-class ``weight`` and label smoothing."""
    check_loss(name, class_weights=weight is not None, label_smoothing=label_smoothing)
    if label_smoothing:
        return LOSSES.get(name)(ignore_index, weight, label_smoothing)
    return LOSSES.get(name)(ignore_index, weight)


def label_edges(target: torch.Tensor, ignore_index: int, width: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary map of labels ``N x H x W``: 1 where a ``width`` x ``width`` window holds two classes.

    Returns ``(edges, valid)`` as float and bool maps ``N x 1 x H x W``; a pixel
    whose window touches the ignore label is not valid (its edge is unknown).
    """
    labels = target.unsqueeze(1).float()
    ignored = (target == ignore_index).unsqueeze(1).float()
    pad = width // 2
    near_ignored = F.max_pool2d(ignored, width, 1, pad) > 0
    highest = F.max_pool2d(labels, width, 1, pad)
    lowest = -F.max_pool2d(-labels, width, 1, pad)
    return (highest != lowest).float(), ~near_ignored


def boundary_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Class-balanced binary cross-entropy of boundary logits ``N x 1 x H x W`` against the labels' edges.

    Each edge pixel weighs the share of non-edge pixels and vice versa (as in
    PIDNet's boundary loss), so the rare edges are not drowned.
    """
    edges, valid = label_edges(target, ignore_index)
    logits, edges = logits.float()[valid], edges[valid]
    if edges.numel() == 0:
        return logits.sum()  # zero, still attached to the graph
    positive = edges.mean()
    weight = torch.where(edges > 0, 1.0 - positive, positive)
    return F.binary_cross_entropy_with_logits(logits, edges, weight)
