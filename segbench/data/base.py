"""What every segbench dataset shares: metadata, errors, the sample contract.

A dataset yields ``(image, mask)``: a float ``[3, H, W]`` image normalised
with the ImageNet mean/std and an int64 ``[H, W]`` mask of train ids, after a
joint transform. Datasets load raw ``uint8`` arrays; all resizing, cropping
and normalising happens in the transform, so the same pipeline serves every
dataset and the synthetic one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from segbench.data.predictions import names_for_image
from segbench.data.transforms import eval_transforms
from segbench.inputs import check_class_ids, image_size, read_image, read_label
from segbench.registry import Registry

JointTransform = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[torch.Tensor, torch.Tensor]]
Palette = tuple[tuple[int, int, int], ...]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root, folder or file is missing; ``str()`` is one line naming it."""


class UnknownSplitError(ValueError):
    """A split the dataset does not have; ``str()`` lists the valid ones."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset, known without touching its files."""

    name: str
    num_classes: int
    ignore_index: int
    class_names: tuple[str, ...]
    palette: Palette
    splits: tuple[str, ...]
    #: Whether training applies random scaling and colour jitter. Off for a set whose every sample is
    #: drawn fresh with random pose, size and lighting: warping it again only slows learning.
    augment: bool = True
    #: The crop training takes when the recipe names none, as a dataset's usual configuration sets it
    #: (clipped to the image); ``None``: the whole image.
    train_crop: tuple[int, int] | None = None
    #: Images per evaluation batch. 1 unless every sample has one size (the loader stacks a batch) and is
    #: small: batching small images takes the per-call overhead out of evaluation (2.5-3.5x on the CPU).
    eval_batch: int = 1

    def default_crop(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """The training crop for images of ``image_size`` (H, W) when the recipe names none."""
        if self.train_crop is None:
            return image_size
        return min(self.train_crop[0], image_size[0]), min(self.train_crop[1], image_size[1])

    def __post_init__(self) -> None:
        if len(self.class_names) != self.num_classes or len(self.palette) != self.num_classes:
            raise ValueError(
                f"{self.name}: {self.num_classes} classes but {len(self.class_names)} names "
                f"and {len(self.palette)} palette colours"
            )


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Base class: subclasses set ``info`` and implement ``__len__`` and ``load_sample``.

    ``transform`` is called as ``transform(image, mask)`` on a
    ``tv_tensors.Image`` (uint8, ``[3, H, W]``) and a ``tv_tensors.Mask``
    (uint8, ``[H, W]``); ``None`` means :func:`eval_transforms` (full size,
    normalised), so a dataset always honours the float/int64 contract.
    """

    info: ClassVar[DatasetInfo]
    stems: list[str]  # one id per sample, in order: how predictions are matched to samples

    def __init__(self, split: str, transform: JointTransform | None = None) -> None:
        if split not in self.info.splits:
            raise UnknownSplitError(
                f"{self.info.name}: unknown split '{split}'; valid: {', '.join(self.info.splits)}"
            )
        self.split = split
        self.transform = transform if transform is not None else eval_transforms()

    def __len__(self) -> int:
        raise NotImplementedError

    def load_sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``(image uint8 [H, W, 3], mask uint8 [H, W] of train ids)``."""
        raise NotImplementedError

    def load_mask(self, index: int) -> np.ndarray:
        """The label map alone, already in train ids (cheaper where images need not be decoded)."""
        return self.load_sample(index)[1]

    def prediction_names(self, index: int) -> tuple[str, ...]:
        """Relative paths without suffix that a prediction of sample ``index`` may carry, its id first."""
        return (self.stems[index],)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.info.name}: index {index} out of range for {len(self)} samples")
        image, mask = self.load_sample(index % len(self))
        image_tv = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1).contiguous())
        mask_tv = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(mask)))
        image_t, mask_t = self.transform(image_tv, mask_tv)
        return image_t.as_subclass(torch.Tensor), mask_t.as_subclass(torch.Tensor).long()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, samples={len(self)})"


class FileDataset(SegmentationDataset):
    """A dataset of (image file, label file) pairs on disk.

    ``files`` holds the pairs and ``stems`` the sample ids (what a folder of
    predictions is matched by). Subclasses find the pairs and may set
    ``label_lut``, a 256-entry table from stored label values to train ids.
    """

    layout: ClassVar[str] = ""
    label_lut: ClassVar[np.ndarray | None] = None

    def __init__(self, root: str | Path | None, split: str, transform: JointTransform | None = None) -> None:
        super().__init__(split, transform)
        if root is None:
            raise DatasetNotFoundError(
                f"{self.info.name}: no root given; expected {self.layout} under the root"
            )
        self.root = Path(root).expanduser()
        self.require_dir(self.root)
        self.files: list[tuple[Path, Path]] = self.find_files()
        self.stems: list[str] = [self.stem_of(image) for image, _ in self.files]

    def find_files(self) -> list[tuple[Path, Path]]:
        """(image, label) pairs of ``self.split``, in a stable order."""
        raise NotImplementedError

    def stem_of(self, image: Path) -> str:
        return image.stem

    def prediction_names(self, index: int) -> tuple[str, ...]:
        """The sample id or the image file's stem, bare or in the image's subfolders.

        See :func:`segbench.data.predictions.names_for_image`.
        """
        return names_for_image(self.stems[index], self.files[index][0], self.root)

    def __len__(self) -> int:
        return len(self.files)

    def load_image(self, index: int) -> np.ndarray:
        return read_image(self.files[index][0])

    def load_mask(self, index: int) -> np.ndarray:
        """The label map in train ids, checked against its image's size and the class range.

        The size is read from the image's header, so ``score`` (which needs
        no pixels) blames a label of the wrong size on the label.
        """
        image, path = self.files[index]
        mask = read_label(path, size=image_size(image))
        if self.label_lut is not None:
            mask = self.label_lut[mask]
        check_class_ids(mask, path, self.info.num_classes, self.info.ignore_index)
        return mask

    def load_sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.load_image(index), self.load_mask(index)

    # Helpers for subclasses: one-line errors that name the missing path.

    def missing(self, path: Path) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"{self.info.name}: missing {path}; expected {self.layout} under the root"
        )

    def require_dir(self, path: Path) -> Path:
        if not path.is_dir():
            raise self.missing(path)
        return path

    def require_file(self, path: Path) -> Path:
        if not path.is_file():
            raise self.missing(path)
        return path

    def pair(
        self,
        images: Sequence[Path],
        label_for: Callable[[Path], Path],
        labels: Iterable[Path] | None = None,
        where: Path | None = None,
    ) -> list[tuple[Path, Path]]:
        """Pair each image with ``label_for(image)``, naming the first file without a partner.

        ``labels`` (every label file found) also catches labels with no image;
        ``where`` is the image folder, named if it holds no images at all.
        """
        if not images:
            raise DatasetNotFoundError(f"{self.info.name}: no images for split '{self.split}' in {where}")
        pairs = [(image, label_for(image)) for image in images]
        found = set(labels) if labels is not None else None
        for image, label in pairs:
            if not (label in found if found is not None else label.is_file()):
                raise DatasetNotFoundError(f"{self.info.name}: image {image} has no label {label}")
        if found is not None:
            extra = sorted(found - {label for _, label in pairs})
            if extra:
                raise DatasetNotFoundError(
                    f"{self.info.name}: label {extra[0]} has no image "
                    f"({len(found)} labels, {len(pairs)} images)"
                )
        return pairs


DATASETS: Registry[type[SegmentationDataset]] = Registry("dataset")


def make_lut(mapping: dict[int, int], ignore_index: int = 255) -> np.ndarray:
    """A 256-entry uint8 table sending each key to its value and everything else to ``ignore_index``."""
    lut = np.full(256, ignore_index, dtype=np.uint8)
    for src, dst in mapping.items():
        lut[src] = dst
    return lut


def bitwise_palette(n: int) -> Palette:
    """The PASCAL VOC colour map: spreads the bits of the index over R, G, B, high bits first.

    Deterministic and well spread, so it also colours datasets (ADE20K) that
    publish no palette of their own.
    """
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for bit in range(7, -1, -1):
            r |= (c & 1) << bit
            g |= ((c >> 1) & 1) << bit
            b |= ((c >> 2) & 1) << bit
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)

