"""CamVid as prepared for SegNet: 11 classes plus void, 360x480, 367/101/233.

Layout: ``train/ trainannot/ val/ valannot/ test/ testannot/`` of PNGs paired
by file name; label value = class id, 11 = void (the ignore index). The
``*.txt`` lists carry stale absolute paths, so the folders are listed instead.
"""

from __future__ import annotations

from pathlib import Path

from segbench.data.base import DATASETS, DatasetInfo, FileDataset

CAMVID_CLASSES = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)  # fmt: skip
CAMVID_PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)  # fmt: skip


@DATASETS.register(
    "camvid", paper="Brostow et al., Semantic Object Classes in Video (SegNet's version)", year=2008
)
class CamVid(FileDataset):
    """CamVid (SegNet version); ``trainval`` is train followed by val."""

    info = DatasetInfo(
        name="camvid",
        num_classes=11,
        ignore_index=11,
        class_names=CAMVID_CLASSES,
        palette=CAMVID_PALETTE,
        splits=("train", "val", "test", "trainval"),
    )
    layout = "train/ trainannot/ val/ valannot/ test/ testannot/"

    def find_files(self) -> list[tuple[Path, Path]]:
        parts = ("train", "val") if self.split == "trainval" else (self.split,)
        files: list[tuple[Path, Path]] = []
        for part in parts:
            image_dir = self.require_dir(self.root / part)
            label_dir = self.require_dir(self.root / f"{part}annot")

            def label_for(image: Path, label_dir: Path = label_dir) -> Path:
                return label_dir / image.name

            files += self.pair(
                sorted(image_dir.glob("*.png")),
                label_for,
                labels=label_dir.glob("*.png"),
                where=image_dir,
            )
        return files
