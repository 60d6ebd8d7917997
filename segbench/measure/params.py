"""Parameter counts."""

from __future__ import annotations

from torch import nn


def _training_only_ids(model: nn.Module) -> set[int]:
    from segbench.models.decoders.base import TrainingOnly

    return {id(p) for m in model.modules() if isinstance(m, TrainingOnly) for p in m.parameters()}


def count_parameters(model: nn.Module, trainable_only: bool = False, inference: bool = True) -> int:
    """Exact number of parameters (shared tensors counted once).

    With ``inference`` (the default) parameters of training-only modules
    (auxiliary heads) are left out: they are not part of the deployed model.
    """
    skip = _training_only_ids(model) if inference else set()
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or id(p) in skip or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
