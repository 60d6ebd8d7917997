"""Label maps as pictures: the dataset's palette, and a colour of its own for the ignore label.

The qualitative sheet and the TensorBoard log colour label maps alike. Only
numpy here: plotting imports it without torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RGB = tuple[int, int, int]
#: The ignore label's colour: white, or (where a class of the palette is white) the first of these no class has.
#: Black is left to the classes: it is the background of most palettes.
IGNORE_COLOURS: tuple[RGB, ...] = ((255, 255, 255), (255, 0, 255), (128, 128, 128))


def ignore_colour(palette: Sequence[Sequence[int]]) -> RGB:
    """The ignore label's own colour: the first of :data:`IGNORE_COLOURS` that no class uses."""
    used = {tuple(int(v) for v in colour) for colour in palette}
    return next((c for c in IGNORE_COLOURS if c not in used), IGNORE_COLOURS[0])


def colourise(label: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int) -> np.ndarray:
    """A label map in the dataset's palette, the ignore index in its own colour; any other value black."""
    size = max(256, len(palette), ignore_index + 1)
    lut = np.zeros((size, 3), dtype=np.uint8)
    lut[: len(palette)] = np.asarray(palette, dtype=np.uint8)
    if ignore_index >= 0:
        lut[ignore_index] = ignore_colour(palette)
    return lut[np.clip(label, 0, size - 1).astype(np.int64)]
