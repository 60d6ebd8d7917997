"""Whole networks: self-contained segmentation models from the literature.

Unlike a grid cell, a whole network is not an encoder plus a decoder: it is
built in one piece, as its paper describes it (ENet, ERFNet, BiSeNet, ...).
Each entry is a class ``(num_classes: int) -> nn.Module`` whose forward
follows the :class:`~segbench.models.decoders.Decoder` convention: in eval
mode one logits tensor ``[N, C, H, W]`` at the input's size; in training mode
it may return ``(main, *aux)`` for deep supervision, with the auxiliary heads
wrapped in :class:`~segbench.models.decoders.TrainingOnly` so that they stay
out of the inference parameter count, FLOPs and latency. An auxiliary output
that predicts class boundaries rather than classes (PIDNet's D head) is a
:class:`~segbench.models.decoders.BoundaryLogits`, which the training loss
scores against the labels' edges.

Metadata per entry (a :class:`NetworkCard`, tested against the model):

- ``paper``, ``year``: where the architecture comes from;
- ``paper_params``: the paper's parameter count in millions, or ``None``
  where the paper gives none;
- ``paper_classes``: the number of classes that count is for;
- ``params_source``: where the figure comes from (table, or how it was derived).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from segbench.registry import Card, Registry


@dataclass(frozen=True, kw_only=True)
class NetworkCard(Card):
    #: The paper's parameter count in millions; ``None`` where the paper gives none.
    paper_params: float | None = None
    #: The number of classes that count is for.
    paper_classes: int | None = None
    #: Where the figure comes from (a table, or how it was derived).
    params_source: str | None = None


NETWORKS: Registry[type[nn.Module]] = Registry("network", NetworkCard)

# Registration side effects: one module per network family. Imported after the registry is defined, since each module
# imports it to register itself.
from segbench.models.networks import (  # noqa: E402, F401
    bisenet,
    bisenetv2,
    cgnet,
    contextnet,
    dabnet,
    ddrnet,
    dfanet,
    edanet,
    enet,
    erfnet,
    espnet,
    espnetv2,
    fast_scnn,
    fc_densenet,
    frrn,
    icnet,
    lednet,
    lrn,
    pidnet,
    pp_liteseg,
    regseg,
    stdc_seg,
    swiftnet,
    unet_original,
)

__all__ = ["NETWORKS", "NetworkCard"]
