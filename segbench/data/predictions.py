"""Pairing a folder of predicted label maps with a split's samples, the way other tools name them.

Tools write a prediction under the sample's id (``aachen_000000_000019.png``),
under its image file's stem (``aachen_000000_000019_leftImg8bit.png``, what
cityscapesscripts accepts), or in the same subfolders as the images
(``val/aachen/...``). Each dataset says which names its samples may carry
(:meth:`SegmentationDataset.prediction_names`); this module indexes the
folder once and finds, for each sample, the one file that carries one of
them. Two files for one sample are an error naming both: silently taking
either would make the score depend on the file system's order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

#: File types a prediction may be (a lossless, single-channel image of class ids).
PRED_SUFFIXES = (".png",)


class PredictionFolder:
    """The prediction files under ``root``, indexed by relative path without suffix (``val/aachen/x``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"prediction folder {self.root} does not exist")
        self._files: dict[str, list[Path]] = {}
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                if path.suffix.lower() in PRED_SUFFIXES:
                    key = PurePosixPath(path.relative_to(self.root).with_suffix("").as_posix())
                    self._files.setdefault(str(key), []).append(path)

    def find(self, names: Sequence[str]) -> Path:
        """The one prediction carrying any of ``names`` (the first is the sample's id, used in messages)."""
        matches = sorted({path for name in names for path in self._files.get(name, ())})
        if not matches:
            raise FileNotFoundError(
                f"no prediction for '{names[0]}' in {self.root} (expected {names[0]}{PRED_SUFFIXES[0]}, "
                "the image file's name, or either in the images' subfolders)"
            )
        if len(matches) > 1:
            raise ValueError(
                f"two predictions match '{names[0]}': {matches[0]} and {matches[1]}; keep one of them"
            )
        return matches[0]


def names_for_image(sample_id: str, image: Path, image_root: Path) -> tuple[str, ...]:
    """The names a prediction of ``image`` may carry.

    Its id or file stem, bare or under any tail of its folders.

    For ``leftImg8bit/val/aachen/aachen_..._leftImg8bit.png`` under the root, the
    tails are ``aachen/``, ``val/aachen/`` and ``leftImg8bit/val/aachen/``, so a
    tool that mirrors the image tree from any level is found.
    """
    stems = dict.fromkeys((sample_id, image.stem))
    try:
        folders = image.parent.relative_to(image_root).parts
    except ValueError:  # an image outside the root: only the bare names
        folders = ()
    tails = [""] + ["/".join(folders[i:]) for i in range(len(folders) - 1, -1, -1)]
    return tuple(f"{tail}/{stem}" if tail else stem for tail in tails for stem in stems)
