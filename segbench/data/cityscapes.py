"""Cityscapes fine and coarse annotations, scored on the 19 evaluation classes.

Cordts et al., "The Cityscapes Dataset for Semantic Urban Scene
Understanding", CVPR 2016. Layout: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png``
and ``gtFine/{split}/{city}/*_gtFine_labelIds.png``. The stored ``labelIds``
(34 classes) go through a 256-entry table to the 19 train ids; every other
id, including void and the classes Cityscapes leaves out of evaluation,
becomes 255.

``cityscapes_coarse`` is a dataset of its own rather than an option: its
splits (``train_extra``, the 19,998 extra images, and ``train_all``, train
followed by train_extra) and its label files
(``gtCoarse/{split}/{city}/*_gtCoarse_labelIds.png``) differ, while classes,
table and palette are the fine set's. It is the first stage of coarse-then-fine
training (``--dataset cityscapes_coarse --train-split train_all``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, make_lut

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
COARSE_SUFFIX = "_gtCoarse_labelIds.png"

# labelId -> trainId for the 19 evaluated classes.
LABEL_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip


PAPER = "Cordts et al., The Cityscapes Dataset for Semantic Urban Scene Understanding"


@DATASETS.register("cityscapes", paper=PAPER, year=2016)
class Cityscapes(FileDataset):
    """Cityscapes ``gtFine``; a sample's stem is ``{city}_{seq}_{frame}``, as in the official scripts."""

    info = DatasetInfo(
        name="cityscapes",
        num_classes=19,
        ignore_index=255,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        splits=("train", "val", "test"),
    )
    layout = "leftImg8bit/{split}/{city}/*" + IMAGE_SUFFIX + " and gtFine/{split}/{city}/*" + LABEL_SUFFIX
    label_lut = make_lut(LABEL_TO_TRAIN_ID)
    label_folder: ClassVar[str] = "gtFine"
    label_suffix: ClassVar[str] = LABEL_SUFFIX
    split_parts: ClassVar[dict[str, tuple[str, ...]]] = {}  # a split made of several folders, in order

    def find_files(self) -> list[tuple[Path, Path]]:
        files: list[tuple[Path, Path]] = []
        for part in self.split_parts.get(self.split, (self.split,)):
            image_dir = self.require_dir(self.root / "leftImg8bit" / part)
            label_dir = self.require_dir(self.root / self.label_folder / part)

            def label_for(image: Path, label_dir: Path = label_dir) -> Path:
                return label_dir / image.parent.name / (self.stem_of(image) + self.label_suffix)

            files += self.pair(
                sorted(image_dir.glob("*/*" + IMAGE_SUFFIX)),
                label_for,
                labels=label_dir.glob("*/*" + self.label_suffix),
                where=image_dir,
            )
        return files

    def stem_of(self, image: Path) -> str:
        return image.name.removesuffix(IMAGE_SUFFIX)


@DATASETS.register("cityscapes_coarse", paper=PAPER + " (coarse annotations)", year=2016)
class CityscapesCoarse(Cityscapes):
    """Cityscapes ``gtCoarse``.

    Splits: train (2,975), train_extra (19,998), val (500) and train_all (both train sets).
    """

    info = DatasetInfo(
        name="cityscapes_coarse",
        num_classes=19,
        ignore_index=255,
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        splits=("train", "train_extra", "val", "train_all"),
    )
    layout = (
        "leftImg8bit/{train,train_extra,val}/{city}/*" + IMAGE_SUFFIX
        + " and gtCoarse/{train,train_extra,val}/{city}/*" + COARSE_SUFFIX
    )
    label_folder = "gtCoarse"
    label_suffix = COARSE_SUFFIX
    split_parts: ClassVar[dict[str, tuple[str, ...]]] = {"train_all": ("train", "train_extra")}
