"""A procedurally drawn segmentation task: the default dataset, no files needed.

Each scene paints a random number of objects in random (painter's) order
over a textured background. A class is a shape with a texture of its own
(stripes, checks, blocky speckle, lanes, rings, dots, hatching); its colour
is drawn from a distribution that overlaps every other class's, and the
whole image then gets an illumination gradient, a colour cast and sensor
noise. So no single pixel's colour gives the class away: a model has to read
texture and shape, which separates a good model from a bad one in mIoU.

Its scale is set for a CPU: objects are large enough (and textures coarse
and contrasted enough) that the default grid's four cells pass 50 mIoU in
the short recipe (segbench.options), from scratch
(benchmarks/bench_default_grid.py measures it). Every scene is a fresh draw
of pose, size, colour and light, so training adds no random scaling or
colour jitter (``DatasetInfo.augment``): it only slowed learning here.

Scenes are a pure function of ``(seed, split, index)``: the same index
always draws the same scene, and splits draw from disjoint seed streams.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from segbench.data.base import DATASETS, DatasetInfo, JointTransform, SegmentationDataset

SYNTHETIC_CLASSES = ("background", "disc", "box", "triangle", "band", "ring", "star", "cross")
SYNTHETIC_PALETTE = (
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25),
    (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
)  # fmt: skip
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}
# a larger test split: less sampling noise in a score
DEFAULT_LENGTHS = {"train": 2048, "val": 64, "test": 256}
CACHE_BYTES = 256 * 2**20
#: Drawn scenes by (seed, split, size, max_objects, ignore_boundary), then index: a process draws each once.
_SCENES: dict[tuple[Any, ...], dict[int, tuple[np.ndarray, np.ndarray]]] = {}
_cached_bytes = 0

# Typical colour of each class; an instance mixes it with a random colour
# (COLOUR_MIX of the random one), so class colour distributions overlap. At
# 0.35 the best colour-only rule stays near chance (a test keeps it below 25
# mIoU) while a CNN trained from scratch learns the set in a CPU minute.
BASE_COLOURS = np.array(
    [(0.5, 0.5, 0.5), (0.8, 0.3, 0.3), (0.3, 0.7, 0.3), (0.8, 0.8, 0.3),
     (0.4, 0.4, 0.5), (0.8, 0.5, 0.2), (0.5, 0.3, 0.7), (0.3, 0.7, 0.8)],
    dtype=np.float32,
)  # fmt: skip
COLOUR_MIX = 0.35
#: Object radius and band half-width as fractions of the scene's shorter side; speckle block size in pixels.
OBJECT_RADIUS = (0.12, 0.28)
BAND_HALF_WIDTH = (0.10, 0.18)
SPECKLE_CELL = (2.5, 4.0)
#: How far an instance's second tone is from its first (0: none, 1: black or white).
TEXTURE_CONTRAST = (0.45, 0.8)

Array = np.ndarray
Rng = np.random.Generator


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[Array, Array]:
    """Pixel-centre coordinates (y, x), cached per size: drawing reuses views of them."""
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    return np.broadcast_to(ys, (height, width)), np.broadcast_to(xs, (height, width))


def _rotate(y: Array, x: Array, cy: float, cx: float, angle: float) -> tuple[Array, Array]:
    """Coordinates in a frame centred on (cy, cx) and turned by ``angle``."""
    c, s = float(np.cos(angle)), float(np.sin(angle))  # Python floats keep the arrays float32
    dy, dx = y - cy, x - cx
    return c * dx + s * dy, -s * dx + c * dy


def _stripes(t: Array, period: float, phase: float) -> Array:
    return 0.5 + 0.5 * np.sin(t * (2 * np.pi / period) + phase)


# Textures: each returns a pattern in [0, 1] over the object's bounding box
# (u, v: the object's own rotated frame; r: distance to its centre).


def _texture_stripes(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    return _stripes(u, rng.uniform(3.0, 6.0), rng.uniform(0, 2 * np.pi))


def _texture_checks(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    cell = rng.uniform(3.0, 6.0)
    return ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)


def _texture_speckle(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    """Random blocks a few pixels wide (in the object's frame).

    Coarser than sensor noise, so it can be read.
    """
    cell = rng.uniform(*SPECKLE_CELL)
    iu, iv = np.floor(u / cell).astype(np.int64), np.floor(v / cell).astype(np.int64)
    iu -= iu.min()
    iv -= iv.min()
    return rng.random((int(iu.max()) + 1, int(iv.max()) + 1), dtype=np.float32)[iu, iv]


def _texture_lanes(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    """Fine lines running along the band (v is the distance across it), over a gentle shading along it."""
    lines = _stripes(v, rng.uniform(2.0, 3.0), rng.uniform(0, 2 * np.pi))
    return 0.3 * (u - u.min()) / (np.ptp(u) + 1e-6) + 0.7 * lines


def _texture_concentric(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    return _stripes(r, rng.uniform(3.0, 5.0), rng.uniform(0, 2 * np.pi))


def _texture_dots(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    spacing = rng.uniform(5.0, 8.0)
    w = 2 * np.pi / spacing
    return (np.sin(u * w) * np.sin(v * w) > 0.45).astype(np.float32)


def _texture_hatch(rng: Rng, u: Array, v: Array, r: Array) -> Array:
    period = rng.uniform(4.0, 7.0)
    lines = ((u + v) % period < 1.6) | ((u - v) % period < 1.6)
    return lines.astype(np.float32)


# Shapes: each draws its geometry, returns (bounding box, inside mask, u, v, r).

Box = tuple[slice, slice]
ShapeResult = tuple[Box, Array, Array, Array, Array]


def _bbox(cy: float, cx: float, radius: float, height: int, width: int) -> Box:
    top, left = max(0, int(cy - radius)), max(0, int(cx - radius))
    bottom, right = min(height, int(cy + radius) + 2), min(width, int(cx + radius) + 2)
    return slice(top, max(top, bottom)), slice(left, max(left, right))


def _centred(rng: Rng, radius: float, height: int, width: int) -> tuple[Box, Array, Array, Array, Array]:
    """A random centre (possibly near an edge) and the object's local frame over its box."""
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    box = _bbox(cy, cx, radius, height, width)
    y, x = (g[box] for g in _grid(height, width))
    u, v = _rotate(y, x, cy, cx, rng.uniform(0, 2 * np.pi))
    return box, u, v, np.sqrt(u * u + v * v), np.arctan2(v, u)


def _shape_disc(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    box, u, v, r, _ = _centred(rng, radius, height, width)
    return box, r < radius, u, v, r


def _shape_box(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    box, u, v, r, _ = _centred(rng, radius, height, width)
    a, b = radius * rng.uniform(0.6, 1.0), radius * rng.uniform(0.35, 0.9)
    return box, (np.abs(u) < a) & (np.abs(v) < b), u, v, r


def _shape_triangle(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    box, u, v, r, _ = _centred(rng, radius, height, width)
    angles = np.arange(3) * (2 * np.pi / 3) + rng.uniform(-0.3, 0.3, size=3)
    pu, pv = radius * np.cos(angles), radius * np.sin(angles)
    inside = np.ones(u.shape, dtype=bool)
    for i in range(3):  # counter-clockwise vertices: inside is left of every edge
        j = (i + 1) % 3
        inside &= (pu[j] - pu[i]) * (v - pv[i]) - (pv[j] - pv[i]) * (u - pu[i]) >= 0
    return box, inside, u, v, r


def _shape_band(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    """A straight band right across the image (a road, a river): long, thin, anywhere."""
    box = (slice(0, height), slice(0, width))
    y, x = _grid(height, width)
    cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
    u, v = _rotate(y, x, cy, cx, rng.uniform(0, np.pi))
    half = 0.5 * min(height, width) * rng.uniform(*BAND_HALF_WIDTH)
    return box, np.abs(v) < half, u, v, np.abs(v)


def _shape_ring(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    box, u, v, r, _ = _centred(rng, radius, height, width)
    return box, (r < radius) & (r > radius * rng.uniform(0.35, 0.55)), u, v, r


def _shape_star(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    box, u, v, r, phi = _centred(rng, radius, height, width)
    points = int(rng.integers(5, 8))
    return box, r < radius * (0.6 + 0.4 * np.cos(points * phi)), u, v, r


def _shape_cross(rng: Rng, radius: float, height: int, width: int) -> ShapeResult:
    box, u, v, r, _ = _centred(rng, radius, height, width)
    arm = radius * rng.uniform(0.3, 0.45)
    au, av = np.abs(u), np.abs(v)
    return box, ((au < radius) & (av < arm)) | ((av < radius) & (au < arm)), u, v, r


ShapeFn = Callable[[Rng, float, int, int], ShapeResult]
TextureFn = Callable[[Rng, Array, Array, Array], Array]

# Class id -> (shape, texture); index 0, the background, is drawn separately.
OBJECT_CLASSES: dict[int, tuple[ShapeFn, TextureFn]] = {
    1: (_shape_disc, _texture_stripes),
    2: (_shape_box, _texture_checks),
    3: (_shape_triangle, _texture_speckle),
    4: (_shape_band, _texture_lanes),
    5: (_shape_ring, _texture_concentric),
    6: (_shape_star, _texture_dots),
    7: (_shape_cross, _texture_hatch),
}


def _instance_colours(rng: Rng, class_id: int) -> tuple[Array, Array]:
    """Two tones for an instance: a colour near (not at) the class's, and a darker/lighter partner."""
    colour = (1 - COLOUR_MIX) * BASE_COLOURS[class_id] + COLOUR_MIX * rng.random(3, dtype=np.float32)
    contrast = rng.uniform(*TEXTURE_CONTRAST)
    partner = colour * (1 - contrast) if rng.random() < 0.5 else colour + (1 - colour) * contrast
    return colour.astype(np.float32), partner.astype(np.float32)


def _paint(image: Array, box: Box, where: Array, pattern: Array, tones: tuple[Array, Array]) -> None:
    a, b = tones
    region = image[box]
    p = pattern[where][:, None]
    region[where] = a + (b - a) * p


def _background(rng: Rng, height: int, width: int) -> Array:
    """Blotchy low-frequency texture: a few long-period plane waves mixing two tones.

    A wave sin(ky y + kx x + phase) splits into 1-D sines and cosines
    (sin(a + b) = sin a cos b + cos a sin b), so the sum of waves is one
    few outer products instead of a sine per pixel per wave. (Not a matmul:
    BLAS threads stall badly in data-loader workers on a busy CPU.)
    """
    waves = 3
    angle = rng.uniform(0, 2 * np.pi, size=waves)
    k = 2 * np.pi / (rng.uniform(0.3, 0.8, size=waves) * max(height, width))
    rows = np.arange(height)[:, None] * (k * np.sin(angle)) + rng.uniform(0, 2 * np.pi, size=waves)
    cols = np.arange(width)[:, None] * (k * np.cos(angle))
    left = np.concatenate([np.sin(rows), np.cos(rows)], axis=1).astype(np.float32)  # [H, 2 waves]
    right = np.concatenate([np.cos(cols), np.sin(cols)], axis=1).astype(np.float32)  # [W, 2 waves]
    field = np.zeros((height, width), dtype=np.float32)
    for i in range(2 * waves):
        field += left[:, i, None] * right[None, :, i]
    a, b = _instance_colours(rng, 0)
    p = (0.5 + field / 6)[..., None]
    return a + (b - a) * p


def _boundary_band(label: Array, width: int) -> Array:
    """Pixels within ``width`` pixels (4-connected) of a label change."""
    edge = np.zeros(label.shape, dtype=bool)
    dy, dx = label[1:] != label[:-1], label[:, 1:] != label[:, :-1]
    edge[1:] |= dy
    edge[:-1] |= dy
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    for _ in range(width - 1):
        grown = edge.copy()
        grown[1:] |= edge[:-1]
        grown[:-1] |= edge[1:]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown
    return edge


def draw_scene(
    rng: Rng, height: int, width: int, max_objects: int = 7, ignore_boundary: int = 0
) -> tuple[Array, Array]:
    """One scene: ``(image uint8 [H, W, 3], label uint8 [H, W])``, a pure function of ``rng``'s state."""
    image = _background(rng, height, width)
    label = np.zeros((height, width), dtype=np.uint8)
    size = min(height, width)
    for _ in range(int(rng.integers(3, max_objects + 1))):
        class_id = int(rng.integers(1, len(SYNTHETIC_CLASSES)))
        shape, texture = OBJECT_CLASSES[class_id]
        box, inside, u, v, r = shape(rng, size * rng.uniform(*OBJECT_RADIUS), height, width)
        if not inside.any():
            continue
        _paint(image, box, inside, texture(rng, u, v, r), _instance_colours(rng, class_id))
        label[box][inside] = class_id

    # Illumination: overall gain, a linear gradient across the scene, a colour cast, sensor noise.
    angle, gain, slope = rng.uniform(0, 2 * np.pi), rng.uniform(0.65, 1.25), rng.uniform(-0.35, 0.35)
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None, None] * float(np.sin(angle))
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :, None] * float(np.cos(angle))
    cast = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    image *= (gain * slope) * (ys + xs) + gain  # broadcasts to [H, W, 1]
    image *= cast
    noise = rng.random(image.shape, dtype=np.float32)  # uniform: 6x cheaper than Gaussian, as good here
    noise -= 0.5
    image += noise * (rng.uniform(0.01, 0.06) * 12**0.5)  # std 0.01-0.06
    np.clip(image, 0.0, 1.0, out=image)

    if ignore_boundary > 0:
        label[_boundary_band(label, ignore_boundary)] = 255
    return (image * 255 + 0.5).astype(np.uint8), label


@DATASETS.register("synthetic", paper="-", year="-")
class SyntheticShapes(SegmentationDataset):
    """Textured shapes on a textured background; sample ``i`` of a split is always the same scene.

    Args:
        root: unused (accepted so every dataset builds the same way).
        split: ``train``, ``val`` or ``test``; each has its own seed stream.
        size: ``(H, W)`` or an int for square scenes.
        length: number of samples (default: ``DEFAULT_LENGTHS``, 2048 train, 64 val, 256 test).
        seed: selects a different, equally distributed, set of scenes.
        max_objects: at most this many objects per scene (at least 3).
        ignore_boundary: if > 0, label pixels this close to a class boundary 255 (ignored).
        cache: keep drawn scenes in memory (up to ``CACHE_BYTES``) instead of redrawing them.
    """

    info = DatasetInfo(
        name="synthetic",
        num_classes=len(SYNTHETIC_CLASSES),
        ignore_index=255,
        class_names=SYNTHETIC_CLASSES,
        palette=SYNTHETIC_PALETTE,
        splits=tuple(SPLIT_STREAMS),
        augment=False,  # every scene is a fresh draw of pose, size, colour and light
        train_crop=(64, 64),  # a batch of 16 such crops learns more per CPU second than 8 whole 96x96 scenes
        eval_batch=16,  # every scene of a split has one size
    )

    def __init__(
        self,
        root: object = None,
        split: str = "train",
        transform: JointTransform | None = None,
        size: int | tuple[int, int] = (96, 96),
        length: int | None = None,
        seed: int = 0,
        max_objects: int = 7,
        ignore_boundary: int = 0,
        cache: bool = True,
    ) -> None:
        super().__init__(split, transform)
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.length = DEFAULT_LENGTHS[split] if length is None else int(length)
        if min(self.size) < 8 or self.length < 0 or max_objects < 3:
            raise ValueError(f"synthetic: need size >= 8, length >= 0, max_objects >= 3; got "
                             f"size={self.size}, length={self.length}, max_objects={max_objects}")
        self.seed = seed
        self.max_objects = max_objects
        self.ignore_boundary = ignore_boundary
        self.stems = [f"{split}_{i:05d}" for i in range(self.length)]
        # Scenes are a pure function of their index, so keeping drawn ones is exact; it takes the
        # generator out of every epoch after the first, and out of every later cell of a grid, since
        # instances drawing the same scenes share them (bounded: past CACHE_BYTES, scenes are redrawn).
        self._scene_bytes = self.size[0] * self.size[1] * 4
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = (
            _SCENES.setdefault((seed, split, self.size, max_objects, ignore_boundary), {}) if cache else None)

    def __len__(self) -> int:
        return self.length

    def load_sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.length:
            raise IndexError(f"synthetic: index {index} out of range for {self.length} samples")
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        rng = np.random.default_rng([self.seed, SPLIT_STREAMS[self.split], index])
        scene = draw_scene(rng, *self.size, max_objects=self.max_objects,
                           ignore_boundary=self.ignore_boundary)
        global _cached_bytes
        if self._cache is not None and _cached_bytes + self._scene_bytes <= CACHE_BYTES:
            self._cache[index] = scene
            _cached_bytes += self._scene_bytes
        return scene
