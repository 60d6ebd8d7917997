"""The one place segbench reads files a user hands in, and says which rule one broke.

Images and label maps of a dataset, predictions given to ``score``, cell
records, run.json, table.csv, training logs and suites are all read here
(checkpoints in :mod:`segbench.checkpoints`). Whatever is wrong with the
contents (bytes that are not an image, a truncated PNG, a label that is RGB or
a JPEG or of another size than its image, a class id out of range, text that
is not UTF-8 or not JSON, a JSON list where a record is an object, a CSV
without the columns needed) is raised as :class:`BadFileError`: one line that
names the file and the rule. It is a ``ValueError``, so the CLI prints it as a
user error and a grid records it as the cell's failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

#: Label maps are lossless single-channel images: PNG (L or P mode) only.
LABEL_FORMATS = ("PNG",)
LABEL_MODES = ("L", "P")


class DamagedCheckpointWarning(UserWarning):
    """A training checkpoint could not be read; it was set aside and its training starts over."""


class BadFileError(ValueError):
    """A file handed in has unusable contents; ``str()`` names the file and the rule broken.

    Raised in a DataLoader worker, torch re-raises it in the main process with
    the worker's traceback as its message; ``str()`` is still the one line.
    """

    def __str__(self) -> str:
        lines = [line for line in super().__str__().splitlines() if line.strip()]
        if len(lines) > 1 and "Original Traceback" in lines[1]:
            return lines[-1].split(f"{type(self).__name__}: ", 1)[-1]
        return lines[0] if lines else ""


def _reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def read_text(path: Path | str, what: str = "file") -> str:
    """The UTF-8 text of ``path``; a missing file or bad encoding is one line naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise BadFileError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None
    except IsADirectoryError:
        raise BadFileError(f"{what} {path} is a folder, not a file") from None


def read_json(path: Path | str, what: str = "JSON file", expect: type = dict) -> Any:
    """Parse ``path`` as JSON whose top level is an ``expect`` (an object, unless told)."""
    text = read_text(path, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadFileError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(data, expect):
        kinds: dict[type, str] = {dict: "an object", list: "a list"}
        kind = kinds.get(expect, expect.__name__)
        raise BadFileError(f"{what} {path} holds a JSON {type(data).__name__}; expected {kind}")
    return data


def read_csv(path: Path | str, what: str = "CSV file", required: Iterable[str] = ()) -> pd.DataFrame:
    """Read ``path`` with pandas; bad bytes, bad CSV or a missing ``required`` column name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        frame = pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BadFileError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None
    except pd.errors.EmptyDataError:
        raise BadFileError(f"{what} {path} is empty; expected a header row") from None
    except pd.errors.ParserError as e:
        raise BadFileError(f"{what} {path} is not valid CSV: {_reason(e)}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise BadFileError(f"{what} {path} lacks the column(s) {', '.join(missing)}")
    return frame


def _open_image(path: Path, what: str) -> Image.Image:
    """Open and fully decode ``path``: a truncated file fails here, not halfway through a batch."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except UnidentifiedImageError:
        raise BadFileError(f"{what} {path} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise BadFileError(f"{what} {path} is corrupt or truncated: {_reason(e)}") from None
    return image


def read_image(path: Path | str) -> np.ndarray:
    """An image file as ``uint8 [H, W, 3]`` RGB."""
    with _open_image(Path(path), "image") as image:
        return np.array(image.convert("RGB"))


def read_prediction(path: Path | str) -> np.ndarray:
    """A predicted label map as stored (``[H, W]`` for L or P mode): decoded in full, so truncation shows."""
    with _open_image(Path(path), "prediction") as image:
        return np.array(image)


def image_size(path: Path | str) -> tuple[int, int]:
    """``(H, W)`` of an image, from its header only (no decoding)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except UnidentifiedImageError:
        raise BadFileError(f"image {path} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadFileError(f"image {path} is corrupt or truncated: {_reason(e)}") from None
    return height, width


def read_label(path: Path | str, what: str = "label", size: tuple[int, int] | None = None) -> np.ndarray:
    """A single-channel (L or P) PNG of class ids as ``uint8 [H, W]``, of ``size`` ``(H, W)`` if given."""
    path = Path(path)
    with _open_image(path, what) as image:
        if image.format not in LABEL_FORMATS:
            raise BadFileError(f"{what} {path} is a {image.format or 'non-PNG'} file, not a PNG; expected a "
                               "lossless single-channel PNG of class ids")
        if image.mode not in LABEL_MODES:
            raise BadFileError(f"{what} {path} is mode {image.mode}; expected a single-channel "
                               "(L or P) PNG of class ids")
        array = np.array(image)
    if size is not None and array.shape != tuple(size):
        raise BadFileError(f"{what} {path} is {array.shape[0]}x{array.shape[1]} but its image is "
                           f"{size[0]}x{size[1]}; a label map must have its image's size")
    return array


def check_class_ids(
    ids: np.ndarray, path: Path | str, num_classes: int, ignore_index: int | None, what: str = "label"
) -> None:
    """Every value of ``ids`` must be a class in ``[0, num_classes)`` or ``ignore_index``."""
    bad = (ids < 0) | (ids >= num_classes)
    if ignore_index is not None:
        bad &= ids != ignore_index
    if bad.any():
        values = np.unique(ids[bad])
        shown = ", ".join(str(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        allowed = f"[0, {num_classes})" + (f" or {ignore_index} (ignore)" if ignore_index is not None else "")
        raise BadFileError(f"{what} {path} holds class id(s) {shown} outside {allowed}")
