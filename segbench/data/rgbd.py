"""Indoor RGB-D scene sets, read as RGB: NYUDv2 (40 classes) and SUN RGB-D (37 classes).

NYUDv2: Silberman et al., "Indoor Segmentation and Support Inference from
RGBD Images", ECCV 2012; the 40-class task is Gupta, Arbelaez & Malik's
(CVPR 2013), 795 train / 654 test images. SUN RGB-D: Song, Lichtenberg &
Xiao, "SUN RGB-D: A RGB-D Scene Understanding Benchmark Suite", CVPR 2015,
5,285 train / 5,050 test images scored on 37 classes (NYU's 40 less the three
"other" classes, in the same order).

Neither publishes label PNGs (NYU ships a MATLAB file, SUN RGB-D per-image
folders), so the layout is the one RGB-D segmentation codebases share
(CMX, DFormer): ``RGB/*.jpg``, label PNGs in ``Label/`` (NYUDv2) or
``labels/`` (SUN RGB-D), and ``train.txt``/``test.txt`` naming the samples
(``RGB/x.jpg`` per line; a bare id works too). Depth (``Depth/``, ``HHA/``)
is not read. Label 0 is unlabeled and ignored (255); 1..N shift to 0..N-1.
Neither paper fixes a palette; the VOC bit-spread map is used, indexed by the
stored label, so a class has the same colour in both sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, bitwise_palette, make_lut
from segbench.data.voc import read_ids

NYU40_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub",
    "bag", "otherstructure", "otherfurniture", "otherprop",
)  # fmt: skip
SUNRGBD_CLASSES = NYU40_CLASSES[:37]


def shifted_info(name: str, classes: tuple[str, ...]) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        num_classes=len(classes),
        ignore_index=255,
        class_names=classes,
        palette=bitwise_palette(len(classes) + 1)[1:],  # colour of stored label k, k >= 1
        splits=("train", "test"),
    )


def shift_lut(num_classes: int) -> np.ndarray:
    """0 (unlabeled) and anything past ``num_classes`` -> 255; 1..N -> 0..N-1."""
    return make_lut({k: k - 1 for k in range(1, num_classes + 1)})


class ListedRGBD(FileDataset):
    """``RGB/{id}.jpg`` and ``{label_folder}/{id}.png`` for the ids ``{split}.txt`` lists."""

    label_folder: ClassVar[str]

    def find_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / "RGB")
        label_dir = self.require_dir(self.root / self.label_folder)
        ids = read_ids(self.require_file(self.root / f"{self.split}.txt"))
        images = []
        for stem in ids:
            image = image_dir / f"{stem}.jpg"
            if not image.is_file():
                raise self.missing(image)
            images.append(image)
        return self.pair(images, lambda image: label_dir / f"{image.stem}.png", where=image_dir)


@DATASETS.register(
    "nyudv2", paper="Silberman et al., Indoor Segmentation and Support Inference from RGBD Images "
    "(40 classes: Gupta et al. 2013)", year=2012,
)
class NYUDv2(ListedRGBD):
    """NYU Depth v2, 40 classes (795 / 654)."""

    info = shifted_info("nyudv2", NYU40_CLASSES)
    label_folder = "Label"
    layout = "RGB/*.jpg, Label/*.png, train.txt and test.txt"
    label_lut = shift_lut(len(NYU40_CLASSES))


@DATASETS.register(
    "sunrgbd", paper="Song et al., SUN RGB-D: A RGB-D Scene Understanding Benchmark Suite", year=2015
)
class SUNRGBD(ListedRGBD):
    """SUN RGB-D, 37 classes (5,285 / 5,050)."""

    info = shifted_info("sunrgbd", SUNRGBD_CLASSES)
    label_folder = "labels"
    layout = "RGB/*.jpg, labels/*.png, train.txt and test.txt"
    label_lut = shift_lut(len(SUNRGBD_CLASSES))
