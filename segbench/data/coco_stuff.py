"""COCO-Stuff 164k: 171 classes (80 things, 91 stuff) on the COCO 2017 images.

Caesar, Uijlings & Ferrari, "COCO-Stuff: Thing and Stuff Classes in Context",
CVPR 2018. Layout (the official ``stuffthingmaps_trainval2017`` setup):
``images/{train2017,val2017}/*.jpg`` and ``annotations/{train2017,val2017}/*.png``.

Ids. COCO-Stuff numbers its classes 1-182 (things 1-91, stuff 92-182, 0 =
unlabeled); the stuffthingmaps PNGs store ``id - 1`` (0-181) and 255 for
unlabeled. Eleven thing ids have no annotation in COCO (street sign, hat,
shoe, eye glasses, plate, mirror, window, desk, door, blender, hair brush),
so the 171 ids in use are renumbered 0-170 in order, as in the benchmark
tables; the unused ids and 255 become 255. Converted ``*_labelTrainIds.png``
files that some toolkits write beside the originals are skipped. COCO-Stuff
publishes no palette of its own; the classes take the VOC bit-spread map
(black left out).
"""

from __future__ import annotations

from pathlib import Path

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, bitwise_palette, make_lut

SPLIT_FOLDERS = {"train": "train2017", "val": "val2017"}
CONVERTED_SUFFIX = "_labelTrainIds"

# labels.txt of COCO-Stuff: the name of every official id 1..182, in order.
COCO_STUFF_IDS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "mirror", "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush",
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard",
    "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard",
    "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone",
    "floor-tile", "floor-wood", "flower", "fog", "food-other", "fruit", "furniture-other", "grass",
    "gravel", "ground-other", "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss",
    "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic",
    "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad",
    "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip
UNUSED_IDS = frozenset({12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91})  # thing ids without COCO annotations
NUM_THING_IDS = 91  # ids 1..91 are things, 92..182 stuff

# (official id, name) of the 171 classes, in train-id order.
USED = tuple((i, name) for i, name in enumerate(COCO_STUFF_IDS, start=1) if i not in UNUSED_IDS)
COCO_STUFF_CLASSES = tuple(name for _, name in USED)
# Stored PNG value (official id - 1) -> train id.
PNG_TO_TRAIN_ID = {official - 1: train_id for train_id, (official, _) in enumerate(USED)}


@DATASETS.register(
    "coco_stuff", paper="Caesar et al., COCO-Stuff: Thing and Stuff Classes in Context", year=2018
)
class COCOStuff(FileDataset):
    """COCO-Stuff 164k; splits ``train``/``val`` read ``train2017``/``val2017`` (118k / 5k images)."""

    info = DatasetInfo(
        name="coco_stuff",
        num_classes=len(COCO_STUFF_CLASSES),
        ignore_index=255,
        class_names=COCO_STUFF_CLASSES,
        palette=bitwise_palette(len(COCO_STUFF_CLASSES) + 1)[1:],
        splits=tuple(SPLIT_FOLDERS),
    )
    layout = "images/{train2017,val2017}/*.jpg and annotations/{train2017,val2017}/*.png (stuffthingmaps)"
    label_lut = make_lut(PNG_TO_TRAIN_ID)

    def find_files(self) -> list[tuple[Path, Path]]:
        folder = SPLIT_FOLDERS[self.split]
        image_dir = self.require_dir(self.root / "images" / folder)
        label_dir = self.require_dir(self.root / "annotations" / folder)
        return self.pair(
            sorted(image_dir.glob("*.jpg")),
            lambda image: label_dir / f"{image.stem}.png",
            labels=(p for p in label_dir.glob("*.png") if not p.stem.endswith(CONVERTED_SUFFIX)),
            where=image_dir,
        )
