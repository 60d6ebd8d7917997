"""Any timm model as an encoder, by the name ``timm:NAME`` (optional: needs timm).

timm's ``features_only`` models already return a list of feature maps and
describe them (``feature_info``), so the wrapper only turns that description
into :class:`FeatureSpec` values. timm dilates its own models when created
with ``output_stride``, so that is passed at creation rather than done by
:meth:`Encoder.dilate`'s surgery.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from segbench.models.encoders import TIMM_PREFIX
from segbench.models.encoders.base import Encoder
from segbench.models.pretrained import PretrainedWeightsUnavailable
from segbench.models.spec import FeatureSpec

if TYPE_CHECKING:
    from timm.models import FeatureInfo


class TimmUnavailable(ImportError, ValueError):
    """timm is not installed. A ValueError too, so the CLI reports it in one line."""


class TimmEncoder(Encoder):
    """Wraps a timm ``features_only`` model: its feature list is this encoder's output."""

    def __init__(self, model: nn.Module, specs: list[FeatureSpec]) -> None:
        nn.Module.__init__(self)  # one module, not a stage per feature: skip Encoder's stage check
        self.model = model
        self.feature_specs = tuple(specs)
        self.output_stride = max(s.stride for s in specs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model(x))

    def dilate(self, output_stride: int) -> None:
        if output_stride < self.output_stride:
            raise ValueError("timm encoders are dilated by timm: create them with output_stride")


def timm_available() -> bool:
    return importlib.util.find_spec("timm") is not None


def check_timm_model(model_name: str) -> None:
    """Refuse, in one line, a timm model that timm is not installed to build or does not know.

    Called when a grid is parsed, so ``timm:nosuch`` stops the command before any cell runs.
    """
    if not timm_available():
        raise TimmUnavailable(f"encoder '{TIMM_PREFIX}{model_name}' needs timm: pip install 'segbench[timm]'")
    import timm

    if not timm.is_model(model_name):
        raise ValueError(f"unknown timm model '{model_name}' (encoder '{TIMM_PREFIX}{model_name}'); "
                         "see timm.list_models()")


def timm_encoder(model_name: str, pretrained: bool = False, output_stride: int = 32) -> Encoder:
    """timm's ``model_name`` (random weights unless ``pretrained``) at ``output_stride``."""
    check_timm_model(model_name)
    # Nothing downloads at run time: pretrained timm weights come from the local Hugging Face cache only.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import timm

    kwargs: dict[str, Any] = {"output_stride": output_stride} if output_stride != 32 else {}
    try:
        model = timm.create_model(model_name, features_only=True, pretrained=pretrained, **kwargs)
    except Exception as e:  # timm reports a missing offline file in several ways
        if not pretrained:
            raise
        raise PretrainedWeightsUnavailable(
            f"pretrained weights for '{TIMM_PREFIX}{model_name}' are not in the local Hugging Face cache "
            f"({type(e).__name__}); fetch them on a machine with network access, or run without --pretrained"
        ) from None
    info = cast("FeatureInfo", model.feature_info)  # features_only models describe their outputs
    specs = [FeatureSpec(c, r) for c, r in zip(info.channels(), info.reduction(), strict=True)]
    return TimmEncoder(model, specs)
