"""ADE20K SceneParsing (ADEChallengeData2016): 150 classes.

Layout: ``images/{training,validation}/*.jpg`` and
``annotations/{training,validation}/*.png``. Label 0 ("other") is ignored:
it becomes 255 and labels 1..150 shift down to train ids 0..149, as in the
benchmark's own evaluation.
"""

from __future__ import annotations

from pathlib import Path

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, bitwise_palette, make_lut

SPLIT_FOLDERS = {"train": "training", "val": "validation"}

# Short names from the SceneParsing benchmark's objectInfo150, in label order 1..150.
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper",
    "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table",
    "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table",
    "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island",
    "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman",
    "bottle", "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy",
    "washer", "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave", "pot",
    "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce",
    "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip


@DATASETS.register("ade20k", paper="Zhou et al., Scene Parsing through ADE20K Dataset", year=2017)
class ADE20K(FileDataset):
    """ADE20K SceneParsing; splits ``train``/``val`` read ``training``/``validation``."""

    info = DatasetInfo(
        name="ade20k",
        num_classes=150,
        ignore_index=255,
        class_names=ADE20K_CLASSES,
        palette=bitwise_palette(151)[1:],  # skip black, the colour of index 0
        splits=tuple(SPLIT_FOLDERS),
    )
    layout = "images/{training,validation}/*.jpg and annotations/{training,validation}/*.png"
    label_lut = make_lut({label: label - 1 for label in range(1, 151)})

    def find_files(self) -> list[tuple[Path, Path]]:
        folder = SPLIT_FOLDERS[self.split]
        image_dir = self.require_dir(self.root / "images" / folder)
        label_dir = self.require_dir(self.root / "annotations" / folder)
        return self.pair(
            sorted(image_dir.glob("*.jpg")),
            lambda image: label_dir / f"{image.stem}.png",
            labels=label_dir.glob("*.png"),
            where=image_dir,
        )
