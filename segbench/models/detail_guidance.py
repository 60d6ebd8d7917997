"""STDC's detail guidance: a training-only head that learns boundaries, and its loss.

Fan et al., "Rethinking BiSeNet For Real-time Semantic Segmentation", CVPR
2021, Sec. 3.2. A detail head on the stride-8 features predicts one logit map
of "detail" (boundary) pixels; its target comes from the label map by the
Detail Aggregation module: a 3x3 Laplacian filter at strides 1, 2 and 4,
each result upsampled back, fused by a 1x1 conv and thresholded at 0.1. The
loss is binary cross-entropy plus Dice. The paper calls the fusing conv
trainable; the threshold after it has no gradient, so it stays at its initial
weights, which are fixed here (0.6, 0.3, 0.1, those of the authors' code).

STDC-Seg returns its detail logits among its training outputs as a
:class:`~segbench.models.decoders.BoundaryLogits` carrying :func:`detail_loss`,
so the training loss scores them here instead of with the class criterion.
Nothing of this runs in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LAPLACIAN = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]).view(1, 1, 3, 3)
_STRIDES = (1, 2, 4)
_FUSE_WEIGHTS = (0.6, 0.3, 0.1)
_THRESHOLD = 0.1


def detail_target(labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Binary boundary map ``[N, 1, H, W]`` (float) from labels ``[N, H, W]``; ignored pixels count as 0."""
    lab = labels.masked_fill(labels == ignore_index, 0).unsqueeze(1).float()
    # Replicated borders: the image edge is no boundary (zero padding would make one of every border).
    padded = F.pad(lab, (1, 1, 1, 1), mode="replicate")
    kernel = _LAPLACIAN.to(lab.device)
    fused = torch.zeros_like(lab)
    for stride, weight in zip(_STRIDES, _FUSE_WEIGHTS, strict=True):
        edges = F.conv2d(padded, kernel, stride=stride).clamp(min=0)
        edges = (edges > _THRESHOLD).float()
        if stride > 1:
            edges = F.interpolate(edges, size=lab.shape[-2:], mode="nearest")
        fused = fused + weight * edges
    return (fused > _THRESHOLD).float()


def detail_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """BCE + Dice of detail ``logits`` (any size; resized to the labels') against the labels' boundaries."""
    logits = logits.float()
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    target = detail_target(labels, ignore_index)
    valid = (labels != ignore_index).unsqueeze(1).float()
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=valid, reduction="sum") / valid.sum().clamp(min=1)
    probs = torch.sigmoid(logits) * valid
    inter = (probs * target).flatten(1).sum(1)
    union = probs.flatten(1).sum(1) + (target * valid).flatten(1).sum(1)
    dice = 1 - (2 * inter + 1) / (union + 1)
    return bce + dice.mean()
