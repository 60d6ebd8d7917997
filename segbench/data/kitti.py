"""KITTI semantic segmentation (the 2015 pixel-level benchmark), scored on Cityscapes' 19 classes.

Alhaija et al., "Augmented Reality Meets Computer Vision: Efficient Data
Generation for Urban Driving Scenes", IJCV 2018 (the benchmark's paper).
Layout (``data_semantics``): ``training/image_2/*.png`` and
``training/semantic/*.png``. The labels carry Cityscapes label ids, so they
go through Cityscapes' own table to the 19 train ids (everything else: 255).
The 200 labelled images are the only split (``testing/`` has none); with no
official validation set, train with ``--val-split ''`` and score with
``--eval-split train``, or train on Cityscapes and score here.
"""

from __future__ import annotations

from pathlib import Path

from segbench.data.base import DATASETS, DatasetInfo, FileDataset
from segbench.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, Cityscapes

SPLIT_FOLDERS = {"train": "training"}


@DATASETS.register("kitti", paper="Alhaija et al., Augmented Reality Meets Computer Vision", year=2018)
class KITTISemantic(FileDataset):
    """KITTI's 200 labelled frames (``000000_10`` ...), with Cityscapes' classes, palette and mapping."""

    info = DatasetInfo(
        name="kitti",
        num_classes=len(CITYSCAPES_CLASSES),
        ignore_index=255,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        splits=tuple(SPLIT_FOLDERS),
    )
    layout = "training/image_2/*.png and training/semantic/*.png"
    label_lut = Cityscapes.label_lut

    def find_files(self) -> list[tuple[Path, Path]]:
        folder = self.root / SPLIT_FOLDERS[self.split]
        image_dir = self.require_dir(folder / "image_2")
        label_dir = self.require_dir(folder / "semantic")
        return self.pair(
            sorted(image_dir.glob("*.png")),
            lambda image: label_dir / image.name,
            labels=label_dir.glob("*.png"),
            where=image_dir,
        )
