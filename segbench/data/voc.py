"""PASCAL VOC 2012 segmentation, with SBD's ``train_aug`` split where present.

Layout: ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` (palette PNGs whose
palette index is the class id, 255 on object boundaries = ignore) and
``ImageSets/Segmentation/{split}.txt``. ``train_aug`` (10,582 ids) reads its
labels from ``SegmentationClassAug/`` (grey-scale class ids) when that folder
exists. Both label kinds decode to class ids as stored, so no table is needed.
"""

from __future__ import annotations

from pathlib import Path

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, bitwise_palette

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip


@DATASETS.register("voc", paper="Everingham et al., The PASCAL Visual Object Classes Challenge", year=2012)
class VOCSegmentation(FileDataset):
    """PASCAL VOC 2012 (21 classes incl. background); the samples are those the split's list names."""

    info = DatasetInfo(
        name="voc",
        num_classes=21,
        ignore_index=255,
        class_names=VOC_CLASSES,
        palette=bitwise_palette(21),
        splits=("train", "val", "trainval", "train_aug"),
    )
    layout = (
        "JPEGImages/ SegmentationClass/ ImageSets/Segmentation/{split}.txt "
        "(and SegmentationClassAug/ for train_aug)"
    )

    def find_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / "JPEGImages")
        label_dir = self.root / "SegmentationClassAug"
        if self.split != "train_aug" or not label_dir.is_dir():
            label_dir = self.require_dir(self.root / "SegmentationClass")
        id_list = self.require_file(self.root / "ImageSets" / "Segmentation" / f"{self.split}.txt")
        images = []
        for stem in read_ids(id_list):
            image = image_dir / f"{stem}.jpg"
            if not image.is_file():
                raise self.missing(image)
            images.append(image)
        return self.pair(images, lambda image: label_dir / f"{image.stem}.png", where=image_dir)


def read_ids(path: Path) -> list[str]:
    """Sample ids of a split list: the first token's file stem on each line.

    That reads both the official lists (one id a line) and DeepLab's
    ``train_aug.txt`` ("/JPEGImages/x.jpg /SegmentationClassAug/x.png").
    """
    lines = (line.split() for line in path.read_text().splitlines())
    return [Path(parts[0]).stem for parts in lines if parts]
