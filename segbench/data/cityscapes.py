"""Cityscapes fine annotations, scored on the 19 evaluation classes.

Layout: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` and
``gtFine/{split}/{city}/*_gtFine_labelIds.png``. The stored ``labelIds``
(34 classes) go through a 256-entry table to the 19 train ids; every other
id, including void and the classes Cityscapes leaves out of evaluation,
becomes 255.
"""

from __future__ import annotations

from pathlib import Path

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, make_lut

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"

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


@DATASETS.register("cityscapes")
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

    def find_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.require_dir(self.root / "leftImg8bit" / self.split)
        label_dir = self.require_dir(self.root / "gtFine" / self.split)

        def label_for(image: Path) -> Path:
            return label_dir / image.parent.name / (self.stem_of(image) + LABEL_SUFFIX)

        return self.pair(
            sorted(image_dir.glob("*/*" + IMAGE_SUFFIX)),
            label_for,
            labels=label_dir.glob("*/*" + LABEL_SUFFIX),
            where=image_dir,
        )

    def stem_of(self, image: Path) -> str:
        return image.name.removesuffix(IMAGE_SUFFIX)
