"""Joint image/mask transforms on ``tv_tensors``.

Wrapping the image as ``tv_tensors.Image`` and the label map as
``tv_tensors.Mask`` lets one torchvision v2 pipeline move both together:
geometric ops hit both (nearest for the mask), photometric ops only the
image, and padding fills the mask with the ignore index so padded pixels are
never scored or trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class RandomScale(v2.Transform):
    """Resize by a factor drawn uniformly from ``scale_range``, relative to the input's own size.

    torchvision's ``RandomResize`` draws an absolute size and ``ScaleJitter``
    a size relative to a fixed target; segmentation recipes scale each image
    relative to itself (DeepLab's 0.5-2.0), which neither does. Images are
    resized bilinearly with antialiasing, masks with exact nearest neighbour
    (which shares bilinear's pixel-centre convention, so the two stay aligned).
    """

    def __init__(self, scale_range: tuple[float, float] = (0.5, 2.0)) -> None:
        super().__init__()
        low, high = scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        self.scale_range = (float(low), float(high))

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        low, high = self.scale_range
        scale = low + (high - low) * float(torch.rand(()))
        return {"size": [max(1, round(height * scale)), max(1, round(width * scale))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.Mask):
            interpolation = v2.InterpolationMode.NEAREST_EXACT
        else:
            interpolation = v2.InterpolationMode.BILINEAR
        return self._call_kernel(F.resize, inpt, params["size"], interpolation=interpolation, antialias=True)


def _to_tensors() -> list[v2.Transform]:
    """The common tail: float image in [0, 1] normalised, int64 mask."""
    dtypes = {tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}
    return [
        v2.ToDtype(dtypes, scale=True),
        v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]


def train_transforms(
    crop_size: int | Sequence[int],
    scale_range: tuple[float, float] | None = (0.5, 2.0),
    hflip: bool = True,
    color_jitter: float = 0.2,
    ignore_index: int = 255,
    augment: bool = True,
) -> v2.Compose:
    """Random scale, pad-if-needed + random crop, flip, colour jitter, then to normalised tensors.

    The crop pads the image with 0 and the mask with ``ignore_index``;
    ``scale_range=None`` or ``color_jitter=0`` switch those steps off, and
    ``augment=False`` both (a dataset's :attr:`DatasetInfo.augment`).
    """
    size = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
    if not augment:
        scale_range, color_jitter = None, 0.0
    steps: list[v2.Transform] = []
    if scale_range is not None:
        steps.append(RandomScale(scale_range))
    steps.append(
        v2.RandomCrop(size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: ignore_index})
    )
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if color_jitter:
        steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    return v2.Compose(steps + _to_tensors())


def eval_transforms() -> v2.Compose:
    """Full size, no resize: to float and normalise only, so scores are on the true labels."""
    return v2.Compose(_to_tensors())
