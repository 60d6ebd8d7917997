"""Segmentation scores from one dataset-level confusion matrix.

Conventions (DESIGN.md, "mIoU"): one int64 C x C matrix is accumulated over
the whole split (rows = ground truth, columns = prediction) and every score
is derived from it at the end; averaging per-image scores would give a
different, non-standard number. Pixels whose ground truth is the ignore
index are not counted at all, whatever was predicted there (counting them as
false positives was the trap in RTSeg's evaluation). A label outside
[0, C) on a counted pixel is an error, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["ConfusionMatrix", "SegMetrics", "score_arrays"]

_LABEL_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


@dataclass(frozen=True)
class SegMetrics:
    """Scores on a 0-100 scale; NaN where undefined (no pixels, empty union)."""

    miou: float
    pixel_acc: float
    mean_acc: float
    fwiou: float
    per_class_iou: list[float]
    per_class_acc: list[float]
    num_pixels: int

    def to_dict(self) -> dict:
        """Plain Python values for a JSON record: every NaN becomes None (strict JSON has no NaN)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {
            "miou": clean(self.miou),
            "pixel_acc": clean(self.pixel_acc),
            "mean_acc": clean(self.mean_acc),
            "fwiou": clean(self.fwiou),
            "per_class_iou": [clean(x) for x in self.per_class_iou],
            "per_class_acc": [clean(x) for x in self.per_class_acc],
            "num_pixels": int(self.num_pixels),
        }


class ConfusionMatrix:
    """Accumulates ``matrix[gt, pred]`` pixel counts on the device of the data.

    ``.matrix`` is a plain int64 tensor, so a distributed job can reduce it
    with any hook; ``all_reduce()`` does so with torch.distributed when a
    process group is up.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255, device=None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            # Such a class could never appear in the ground truth, yet predicting it
            # would count as a false positive: an inconsistent setup, refuse it.
            raise ValueError(f"ignore_index {ignore_index} is a valid class in [0, {num_classes})")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._follow_data = device is None  # no device given: live where the data lives
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def reset(self) -> None:
        self.matrix.zero_()

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Count one batch of integer label maps of the same shape (any leading dims).

        Ignored pixels are routed to an extra bin C*C of one bincount instead
        of being removed by a boolean mask: no data-dependent shapes, so no
        host sync on CUDA besides the range check, and faster on CPU.
        """
        if pred.shape != target.shape:
            raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        for name, x in (("pred", pred), ("target", target)):
            if x.dtype not in _LABEL_DTYPES:
                raise TypeError(f"{name} must hold integer labels, got dtype {x.dtype}")
        if pred.device != target.device:
            raise ValueError(f"pred on {pred.device} but target on {target.device}")
        if self.matrix.device != target.device:
            if self._follow_data:
                self.matrix = self.matrix.to(target.device)
            else:
                pred, target = pred.to(self.matrix.device), target.to(self.matrix.device)
        if target.numel() == 0:
            return

        c = self.num_classes
        p, t = pred.reshape(-1), target.reshape(-1)
        ignored = None if self.ignore_index is None else t == self.ignore_index
        self._check_ranges(p, t, ignored)
        idx = torch.add(p.long(), t, alpha=c)  # c * t + p, computed in int64 whatever the input dtypes
        if ignored is not None:
            idx.masked_fill_(ignored, c * c)
        counts = torch.bincount(idx, minlength=c * c + 1)
        self.matrix += counts[: c * c].view(c, c)

    def update_logits(self, logits: Tensor, target: Tensor) -> None:
        """Count a batch of logits [N, C, H, W] (argmax over the class dim) against [N, H, W] labels."""
        if logits.dim() < 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"logits must be [N, {self.num_classes}, ...], got {tuple(logits.shape)}")
        self.update(logits.argmax(dim=1), target)

    def _check_ranges(self, p: Tensor, t: Tensor, ignored: Tensor | None) -> None:
        """Raise on a label outside [0, C) on a counted pixel; one min/max per tensor, one host sync.

        Predictions are checked over all pixels first (argmax output always
        passes); only if that fails are ignored pixels masked out, since any
        value predicted on an ignored pixel is allowed.
        """
        c = self.num_classes
        tv = t if ignored is None else t.masked_fill(ignored, 0)
        p_lo, p_hi, t_lo, t_hi = torch.stack([x.long() for x in (*p.aminmax(), *tv.aminmax())]).tolist()
        if (p_lo < 0 or p_hi >= c) and ignored is not None:
            p_lo, p_hi = (x.item() for x in p.masked_fill(ignored, 0).aminmax())
        if t_lo < 0 or t_hi >= c:
            raise ValueError(
                f"target labels span [{t_lo}, {t_hi}] on non-ignored pixels; expected [0, {c}) "
                f"or ignore_index={self.ignore_index}"
            )
        if p_lo < 0 or p_hi >= c:
            raise ValueError(f"predictions span [{p_lo}, {p_hi}] on non-ignored pixels; expected [0, {c})")

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix built under the same classes and ignore index (e.g. another shard)."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                f"cannot merge num_classes={other.num_classes}, ignore_index={other.ignore_index} "
                f"into num_classes={self.num_classes}, ignore_index={self.ignore_index}"
            )
        self.matrix += other.matrix.to(self.matrix.device)
        return self

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the matrix over all ranks when torch.distributed is initialised; a no-op otherwise."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.matrix)
        return self

    def compute(self) -> SegMetrics:
        return _scores(self.matrix.detach().cpu().numpy())


def _nanmean(x: np.ndarray) -> float:
    """Mean over the defined entries; NaN (without numpy's warning) when none is defined."""
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else math.nan


def _scores(matrix: np.ndarray) -> SegMetrics:
    """All scores from an int64 matrix, in float64 (exact counts up to 2**53 pixels)."""
    m = matrix.astype(np.float64)
    tp = np.diag(m)
    gt = m.sum(axis=1)  # TP + FN
    pr = m.sum(axis=0)  # TP + FP
    union = gt + pr - tp
    total = m.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt > 0, tp / gt, np.nan)
        pixel_acc = tp.sum() / total if total > 0 else math.nan
        # Classes absent from GT have freq 0, so summing over GT-present classes
        # equals summing over classes with a non-empty union.
        fwiou = float((gt[gt > 0] / total * iou[gt > 0]).sum()) if total > 0 else math.nan
    return SegMetrics(
        miou=100 * _nanmean(iou),
        pixel_acc=100 * float(pixel_acc),
        mean_acc=100 * _nanmean(acc),
        fwiou=100 * fwiou,
        per_class_iou=(100 * iou).tolist(),
        per_class_acc=(100 * acc).tolist(),
        num_pixels=int(matrix.sum()),
    )


def _as_label_tensor(a: np.ndarray) -> Tensor:
    """numpy labels to a tensor; unsigned types wider than 8 bits widen to int64 (torch lacks ops on them)."""
    a = np.asarray(a)
    if a.dtype.kind == "u" and a.dtype != np.uint8:
        a = a.astype(np.int64)
    return torch.from_numpy(np.ascontiguousarray(a))


def score_arrays(
    preds: np.ndarray | Sequence[np.ndarray],
    targets: np.ndarray | Sequence[np.ndarray],
    num_classes: int,
    ignore_index: int | None = 255,
) -> SegMetrics:
    """Score numpy label maps: one array of any shape, or matching sequences of arrays (sizes may differ)."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    preds = [preds] if isinstance(preds, np.ndarray) else preds
    targets = [targets] if isinstance(targets, np.ndarray) else targets
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
    for p, t in zip(preds, targets, strict=True):
        cm.update(_as_label_tensor(p), _as_label_tensor(t))
    return cm.compute()
