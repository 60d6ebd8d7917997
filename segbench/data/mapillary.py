"""Mapillary Vistas v1.2 (65 classes) and v2.0 (116 classes): the labels its benchmark scores.

Neuhold et al., "The Mapillary Vistas Dataset for Semantic Understanding of
Street Scenes", ICCV 2017; v2.0 (2021) relabels the same 25,000 images into a
124-label ontology. Layout: ``{training,validation}/images/*.jpg`` and
``{training,validation}/{v1.2,v2.0}/labels/*.png`` (8-bit palette PNGs whose
palette index is the label id), with ``config_v1.2.json`` / ``config_v2.0.json``
at the root. ``testing/`` has no labels and is not a split here.

Class count. The published figures (66 and 124 "object categories") count
every label of the config. Each label also carries ``evaluate``; the labels
marked ``false`` are left out of the benchmark, and here they are ignored
(255) and the others renumbered 0..C-1 in id order. In v1.2 that is only
``Unlabeled`` (65 classes remain); in v2.0 it is ``Unlabeled`` and seven
ambiguous or group labels (Ambiguous Barrier, Person Group, Lane Marking -
Ambiguous, Signage - Ambiguous, Pole Group, Traffic Sign - Ambiguous, Vehicle
Group), leaving 116. mmsegmentation instead trains every label as a class
(66 / 124); that reading is not taken, since its mIoU then averages in void.

Tables. Names, colours and the labels left out ship here, so the class table
is known without the files (``segbench list datasets``, a model's head size).
When the root holds the official config JSON, it is read and must agree label
for label (name, colour and ``evaluate``, in id order): a root of another
version or a modified ontology fails in one line instead of training on
shifted ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from segbench.data.base import DATASETS, DatasetInfo, FileDataset, make_lut

Labels = tuple[tuple[str, tuple[int, int, int]], ...]
SPLIT_FOLDERS = {"train": "training", "val": "validation"}
PAPER = "Neuhold et al., The Mapillary Vistas Dataset for Semantic Understanding of Street Scenes"

# config_v1.2.json: 66 labels (readable name, colour) in label-id order.
V1_2_LABELS: Labels = (
    ("Bird", (165, 42, 42)), ("Ground Animal", (0, 192, 0)), ("Curb", (196, 196, 196)),
    ("Fence", (190, 153, 153)), ("Guard Rail", (180, 165, 180)), ("Barrier", (90, 120, 150)),
    ("Wall", (102, 102, 156)), ("Bike Lane", (128, 64, 255)), ("Crosswalk - Plain", (140, 140, 200)),
    ("Curb Cut", (170, 170, 170)), ("Parking", (250, 170, 160)), ("Pedestrian Area", (96, 96, 96)),
    ("Rail Track", (230, 150, 140)), ("Road", (128, 64, 128)), ("Service Lane", (110, 110, 110)),
    ("Sidewalk", (244, 35, 232)), ("Bridge", (150, 100, 100)), ("Building", (70, 70, 70)),
    ("Tunnel", (150, 120, 90)), ("Person", (220, 20, 60)), ("Bicyclist", (255, 0, 0)),
    ("Motorcyclist", (255, 0, 100)), ("Other Rider", (255, 0, 200)),
    ("Lane Marking - Crosswalk", (200, 128, 128)), ("Lane Marking - General", (255, 255, 255)),
    ("Mountain", (64, 170, 64)), ("Sand", (230, 160, 50)), ("Sky", (70, 130, 180)),
    ("Snow", (190, 255, 255)), ("Terrain", (152, 251, 152)), ("Vegetation", (107, 142, 35)),
    ("Water", (0, 170, 30)), ("Banner", (255, 255, 128)), ("Bench", (250, 0, 30)),
    ("Bike Rack", (100, 140, 180)), ("Billboard", (220, 220, 220)), ("Catch Basin", (220, 128, 128)),
    ("CCTV Camera", (222, 40, 40)), ("Fire Hydrant", (100, 170, 30)), ("Junction Box", (40, 40, 40)),
    ("Mailbox", (33, 33, 33)), ("Manhole", (100, 128, 160)), ("Phone Booth", (142, 0, 0)),
    ("Pothole", (70, 100, 150)), ("Street Light", (210, 170, 100)), ("Pole", (153, 153, 153)),
    ("Traffic Sign Frame", (128, 128, 128)), ("Utility Pole", (0, 0, 80)),
    ("Traffic Light", (250, 170, 30)), ("Traffic Sign (Back)", (192, 192, 192)),
    ("Traffic Sign (Front)", (220, 220, 0)), ("Trash Can", (140, 140, 20)), ("Bicycle", (119, 11, 32)),
    ("Boat", (150, 0, 255)), ("Bus", (0, 60, 100)), ("Car", (0, 0, 142)), ("Caravan", (0, 0, 90)),
    ("Motorcycle", (0, 0, 230)), ("On Rails", (0, 80, 100)), ("Other Vehicle", (128, 64, 64)),
    ("Trailer", (0, 0, 110)), ("Truck", (0, 0, 70)), ("Wheeled Slow", (0, 0, 192)),
    ("Car Mount", (32, 32, 32)), ("Ego Vehicle", (120, 10, 10)), ("Unlabeled", (0, 0, 0)),
)  # fmt: skip
# config_v2.0.json: 124 labels (readable name, colour) in label-id order.
V2_0_LABELS: Labels = (
    ("Bird", (165, 42, 42)), ("Ground Animal", (0, 192, 0)), ("Ambiguous Barrier", (250, 170, 31)),
    ("Concrete Block", (250, 170, 32)), ("Curb", (196, 196, 196)), ("Fence", (190, 153, 153)),
    ("Guard Rail", (180, 165, 180)), ("Barrier", (90, 120, 150)), ("Road Median", (250, 170, 33)),
    ("Road Side", (250, 170, 34)), ("Lane Separator", (128, 128, 128)),
    ("Temporary Barrier", (250, 170, 35)), ("Wall", (102, 102, 156)), ("Bike Lane", (128, 64, 255)),
    ("Crosswalk - Plain", (140, 140, 200)), ("Curb Cut", (170, 170, 170)), ("Driveway", (250, 170, 36)),
    ("Parking", (250, 170, 160)), ("Parking Aisle", (250, 170, 37)), ("Pedestrian Area", (96, 96, 96)),
    ("Rail Track", (230, 150, 140)), ("Road", (128, 64, 128)), ("Road Shoulder", (110, 110, 110)),
    ("Service Lane", (110, 110, 110)), ("Sidewalk", (244, 35, 232)), ("Traffic Island", (128, 196, 128)),
    ("Bridge", (150, 100, 100)), ("Building", (70, 70, 70)), ("Garage", (150, 150, 150)),
    ("Tunnel", (150, 120, 90)), ("Person", (220, 20, 60)), ("Person Group", (220, 20, 60)),
    ("Bicyclist", (255, 0, 0)), ("Motorcyclist", (255, 0, 100)), ("Other Rider", (255, 0, 200)),
    ("Lane Marking - Dashed Line", (255, 255, 255)), ("Lane Marking - Straight Line", (255, 255, 255)),
    ("Lane Marking - Zigzag Line", (250, 170, 29)), ("Lane Marking - Ambiguous", (250, 170, 28)),
    ("Lane Marking - Arrow (Left)", (250, 170, 26)), ("Lane Marking - Arrow (Other)", (250, 170, 25)),
    ("Lane Marking - Arrow (Right)", (250, 170, 24)),
    ("Lane Marking - Arrow (Split Left or Straight)", (250, 170, 22)),
    ("Lane Marking - Arrow (Split Right or Straight)", (250, 170, 21)),
    ("Lane Marking - Arrow (Straight)", (250, 170, 20)), ("Lane Marking - Crosswalk", (255, 255, 255)),
    ("Lane Marking - Give Way (Row)", (250, 170, 19)), ("Lane Marking - Give Way (Single)", (250, 170, 18)),
    ("Lane Marking - Hatched (Chevron)", (250, 170, 12)),
    ("Lane Marking - Hatched (Diagonal)", (250, 170, 11)), ("Lane Marking - Other", (255, 255, 255)),
    ("Lane Marking - Stop Line", (255, 255, 255)), ("Lane Marking - Symbol (Bicycle)", (250, 170, 16)),
    ("Lane Marking - Symbol (Other)", (250, 170, 15)), ("Lane Marking - Text", (250, 170, 15)),
    ("Lane Marking (only) - Dashed Line", (255, 255, 255)),
    ("Lane Marking (only) - Crosswalk", (255, 255, 255)), ("Lane Marking (only) - Other", (255, 255, 255)),
    ("Lane Marking (only) - Test", (255, 255, 255)), ("Mountain", (64, 170, 64)), ("Sand", (230, 160, 50)),
    ("Sky", (70, 130, 180)), ("Snow", (190, 255, 255)), ("Terrain", (152, 251, 152)),
    ("Vegetation", (107, 142, 35)), ("Water", (0, 170, 30)), ("Banner", (255, 255, 128)),
    ("Bench", (250, 0, 30)), ("Bike Rack", (100, 140, 180)), ("Catch Basin", (220, 128, 128)),
    ("CCTV Camera", (222, 40, 40)), ("Fire Hydrant", (100, 170, 30)), ("Junction Box", (40, 40, 40)),
    ("Mailbox", (33, 33, 33)), ("Manhole", (100, 128, 160)), ("Parking Meter", (20, 20, 255)),
    ("Phone Booth", (142, 0, 0)), ("Pothole", (70, 100, 150)), ("Signage - Advertisement", (250, 171, 30)),
    ("Signage - Ambiguous", (250, 172, 30)), ("Signage - Back", (250, 173, 30)),
    ("Signage - Information", (250, 174, 30)), ("Signage - Other", (250, 175, 30)),
    ("Signage - Store", (250, 176, 30)), ("Street Light", (210, 170, 100)), ("Pole", (153, 153, 153)),
    ("Pole Group", (153, 153, 153)), ("Traffic Sign Frame", (128, 128, 128)), ("Utility Pole", (0, 0, 80)),
    ("Traffic Cone", (210, 60, 60)), ("Traffic Light - General (Single)", (250, 170, 30)),
    ("Traffic Light - Pedestrians", (250, 170, 30)), ("Traffic Light - General (Upright)", (250, 170, 30)),
    ("Traffic Light - General (Horizontal)", (250, 170, 30)), ("Traffic Light - Cyclists", (250, 170, 30)),
    ("Traffic Light - Other", (250, 170, 30)), ("Traffic Sign - Ambiguous", (192, 192, 192)),
    ("Traffic Sign (Back)", (192, 192, 192)), ("Traffic Sign - Direction (Back)", (192, 192, 192)),
    ("Traffic Sign - Direction (Front)", (220, 220, 0)), ("Traffic Sign (Front)", (220, 220, 0)),
    ("Traffic Sign - Parking", (0, 0, 196)), ("Traffic Sign - Temporary (Back)", (192, 192, 192)),
    ("Traffic Sign - Temporary (Front)", (220, 220, 0)), ("Trash Can", (140, 140, 20)),
    ("Bicycle", (119, 11, 32)), ("Boat", (150, 0, 255)), ("Bus", (0, 60, 100)), ("Car", (0, 0, 142)),
    ("Caravan", (0, 0, 90)), ("Motorcycle", (0, 0, 230)), ("On Rails", (0, 80, 100)),
    ("Other Vehicle", (128, 64, 64)), ("Trailer", (0, 0, 110)), ("Truck", (0, 0, 70)),
    ("Vehicle Group", (0, 0, 142)), ("Wheeled Slow", (0, 0, 192)), ("Water Valve", (170, 170, 170)),
    ("Car Mount", (32, 32, 32)), ("Dynamic", (111, 74, 0)), ("Ego Vehicle", (120, 10, 10)),
    ("Ground", (81, 0, 81)), ("Static", (111, 111, 0)), ("Unlabeled", (0, 0, 0)),
)  # fmt: skip


# The label ids each config marks ``evaluate: false``.
V1_2_NOT_EVALUATED = frozenset({65})  # Unlabeled
V2_0_NOT_EVALUATED = frozenset({2, 31, 38, 79, 86, 96, 115, 123})  # ambiguous and group labels, Unlabeled


def vistas_info(name: str, labels: Labels, not_evaluated: frozenset[int]) -> DatasetInfo:
    """The evaluated labels are the classes, in label-id order."""
    kept = [label for i, label in enumerate(labels) if i not in not_evaluated]
    return DatasetInfo(
        name=name,
        num_classes=len(kept),
        ignore_index=255,
        class_names=tuple(n for n, _ in kept),
        palette=tuple(c for _, c in kept),
        splits=tuple(SPLIT_FOLDERS),
    )


class MapillaryVistas(FileDataset):
    """One version of Vistas; subclasses set ``version``, ``labels``, ``info``, ``layout`` and the table."""

    version: ClassVar[str]
    labels: ClassVar[Labels]
    not_evaluated: ClassVar[frozenset[int]]

    def find_files(self) -> list[tuple[Path, Path]]:
        self.check_config()
        folder = self.root / SPLIT_FOLDERS[self.split]
        image_dir = self.require_dir(folder / "images")
        label_dir = self.require_dir(folder / self.version / "labels")
        return self.pair(
            sorted(image_dir.glob("*.jpg")),
            lambda image: label_dir / f"{image.stem}.png",
            labels=label_dir.glob("*.png"),
            where=image_dir,
        )

    def check_config(self) -> None:
        """The root's ``config_{version}.json``, where present, must list this table's labels."""
        path = self.root / f"config_{self.version}.json"
        if not path.is_file():
            return
        try:
            found = [(str(e["readable"]), tuple(e["color"]), bool(e.get("evaluate", True)))
                     for e in json.loads(path.read_text())["labels"]]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"{self.info.name}: {path} is not a Vistas config ({type(e).__name__}: {e})") from None
        expected = [(n, tuple(c), i not in self.not_evaluated) for i, (n, c) in enumerate(self.labels)]
        if found != expected:
            # the first label that differs; where one list is a prefix of the other, the first one past it
            i = next((i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b),
                     min(len(found), len(expected)))
            there, here = (x[i] if i < len(x) else "none" for x in (found, expected))
            raise ValueError(
                f"{self.info.name}: {path} does not match Vistas {self.version}: label {i} is {there} there, "
                f"{here} here ({len(found)} vs {len(expected)} labels)"
            )


def vistas_layout(version: str) -> str:
    return (
        f"{{training,validation}}/images/*.jpg, {{training,validation}}/{version}/labels/*.png "
        f"and config_{version}.json"
    )


def vistas_lut(labels: Labels, not_evaluated: frozenset[int]) -> np.ndarray:
    """Evaluated label ids -> 0..C-1 in order; the others, and ids past the table, -> 255."""
    kept = [i for i in range(len(labels)) if i not in not_evaluated]
    return make_lut({label_id: train_id for train_id, label_id in enumerate(kept)})


@DATASETS.register("mapillary_v1", paper=PAPER, year=2017)
class MapillaryVistasV1(MapillaryVistas):
    """Mapillary Vistas v1.2: 65 classes (66 labels less Unlabeled)."""

    version = "v1.2"
    labels = V1_2_LABELS
    not_evaluated = V1_2_NOT_EVALUATED
    info = vistas_info("mapillary_v1", V1_2_LABELS, V1_2_NOT_EVALUATED)
    layout = vistas_layout("v1.2")
    label_lut = vistas_lut(V1_2_LABELS, V1_2_NOT_EVALUATED)


@DATASETS.register("mapillary_v2", paper=PAPER + " (v2.0 release)", year=2021)
class MapillaryVistasV2(MapillaryVistas):
    """Mapillary Vistas v2.0: 116 classes (124 labels less the 8 its config does not evaluate)."""

    version = "v2.0"
    labels = V2_0_LABELS
    not_evaluated = V2_0_NOT_EVALUATED
    info = vistas_info("mapillary_v2", V2_0_LABELS, V2_0_NOT_EVALUATED)
    layout = vistas_layout("v2.0")
    label_lut = vistas_lut(V2_0_LABELS, V2_0_NOT_EVALUATED)
