"""Joint transforms: image and mask move together, crops honour their size, padding is ignored."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from segbench.data import IMAGENET_MEAN, IMAGENET_STD, RandomScale, eval_transforms, train_transforms

MEAN = torch.tensor(IMAGENET_MEAN)[:, None, None]
STD = torch.tensor(IMAGENET_STD)[:, None, None]


def encoded_sample(h: int = 48, w: int = 64, block: int = 12) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """A mask of blocks with distinct labels, and an image whose red channel is 20 x the label.

    Labels are not symmetric left/right or top/bottom, so a flip or an offset
    applied to only one of the pair shows up as a mismatch.
    """
    ys, xs = torch.meshgrid(torch.arange(h) // block, torch.arange(w) // block, indexing="ij")
    label = (ys * 3 + xs * 5 + (ys * xs) % 4) % 12
    image = torch.stack([label * 20, torch.full_like(label, 100), torch.full_like(label, 50)]).to(torch.uint8)
    return tv_tensors.Image(image), tv_tensors.Mask(label.to(torch.uint8))


def denormalise(image: torch.Tensor) -> torch.Tensor:
    return (image * STD + MEAN) * 255


def near_boundary(mask: torch.Tensor, margin: int) -> torch.Tensor:
    """Pixels within ``margin`` of a label change or of the edge, where resampling blends labels.

    The edge counts because a crop may cut just inside a boundary the image has already blended.
    """
    m = mask[None, None].float()
    padded = torch.nn.functional.pad(m, (margin,) * 4, value=-1.0)
    high = torch.nn.functional.max_pool2d(padded, 2 * margin + 1, stride=1)
    low = -torch.nn.functional.max_pool2d(-padded, 2 * margin + 1, stride=1)
    return (high != low)[0, 0]


@pytest.mark.parametrize("seed", range(12))
def test_image_and_mask_stay_aligned(seed: int) -> None:
    torch.manual_seed(seed)
    transform = train_transforms((40, 56), scale_range=(0.5, 2.0), color_jitter=0.0, ignore_index=255)
    image, mask = transform(*encoded_sample())
    assert image.dtype == torch.float32 and mask.dtype == torch.int64
    assert image.shape == (3, 40, 56) and mask.shape == (40, 56)
    red = denormalise(image)[0]
    check = (mask != 255) & ~near_boundary(mask, 2)
    assert check.sum() > 50
    assert torch.allclose(red[check], mask[check].float() * 20, atol=1.0)
    assert set(mask.unique().tolist()) <= set(range(12)) | {255}  # nearest: no blended labels


def test_flip_moves_both() -> None:
    image, mask = encoded_sample()
    flipped = train_transforms((48, 64), scale_range=None, color_jitter=0.0)  # crop = full size: flip only
    seen_flip = seen_plain = False
    for seed in range(10):
        torch.manual_seed(seed)
        out_image, out_mask = flipped(image, mask)
        is_flipped = torch.equal(out_mask, mask.flip(-1).long())
        assert is_flipped or torch.equal(out_mask, mask.long())
        assert torch.allclose(denormalise(out_image)[0], out_mask.float() * 20, atol=1.0)
        seen_flip |= is_flipped
        seen_plain |= not is_flipped
    assert seen_flip and seen_plain


@pytest.mark.parametrize("crop", [32, (24, 80), (100, 20)])
def test_crop_size_is_honoured(crop: int | tuple[int, int]) -> None:
    expected = (crop, crop) if isinstance(crop, int) else crop
    transform = train_transforms(crop)
    for seed in range(4):
        torch.manual_seed(seed)
        image, mask = transform(*encoded_sample())
        assert image.shape == (3, *expected) and mask.shape == expected


@pytest.mark.parametrize("ignore_index", [255, 11])
def test_padding_fills_the_mask_with_the_ignore_index(ignore_index: int) -> None:
    image, mask = encoded_sample(20, 24)
    mask = tv_tensors.Mask(mask.clamp(max=10))  # keep 11 free to be the ignore index
    transform = train_transforms(
        32, scale_range=None, hflip=False, color_jitter=0.0, ignore_index=ignore_index
    )
    out_image, out_mask = transform(image, mask)
    padded = out_mask == ignore_index
    assert int(padded.sum()) == 32 * 32 - 20 * 24
    assert torch.equal(out_mask[~padded].view(20, 24), mask.long())  # the original, whole, offset only
    padding_pixels = denormalise(out_image)[:, padded]  # image padding is black
    torch.testing.assert_close(padding_pixels, torch.zeros_like(padding_pixels), atol=1e-3, rtol=0)


def test_colour_jitter_touches_the_image_only() -> None:
    image, mask = encoded_sample()
    transform = train_transforms((48, 64), scale_range=None, hflip=False, color_jitter=0.8)
    out_image, out_mask = transform(image, mask)
    assert torch.equal(out_mask, mask.long())
    assert not torch.allclose(denormalise(out_image), image.float(), atol=1.0)


def test_random_scale_draws_within_range() -> None:
    image, mask = encoded_sample(40, 60)
    scale = RandomScale((0.5, 1.5))
    for seed in range(8):
        torch.manual_seed(seed)
        out_image, out_mask = scale(image, mask)
        h, w = out_mask.shape
        assert out_image.shape[-2:] == (h, w) and 20 <= h <= 60 and 30 <= w <= 90
        assert abs(w / h - 1.5) < 0.1
        assert set(out_mask.unique().tolist()) <= set(mask.unique().tolist())
    with pytest.raises(ValueError, match="scale_range must satisfy 0 < low <= high"):
        RandomScale((2.0, 1.0))


def test_eval_transform_keeps_full_size_and_normalises() -> None:
    image, mask = encoded_sample(37, 53)
    out_image, out_mask = eval_transforms()(image, mask)
    assert out_image.shape == (3, 37, 53) and out_mask.shape == (37, 53)
    assert out_image.dtype == torch.float32 and out_mask.dtype == torch.int64
    torch.testing.assert_close(out_image, (image.float() / 255 - MEAN) / STD)
    assert torch.equal(out_mask, mask.long())


def test_scaled_mask_takes_the_label_nearest_to_each_pixel_centre() -> None:
    """Masks use exact nearest neighbour, bilinear's pixel-centre convention, so a blended image
    pixel carries the label it is mostly made of (legacy NEAREST is off by up to half a pixel)."""
    label = torch.zeros(30, 30, dtype=torch.uint8)
    label[:, 13:] = 10
    label[17:, :] = 10
    image, mask = tv_tensors.Image(torch.stack([label * 20, label * 0, label * 0])), tv_tensors.Mask(label)
    for seed in range(20):
        torch.manual_seed(seed)
        out_image, out_mask = RandomScale((0.5, 2.0))(image, mask)
        assert (out_image[0].float() / 20 - out_mask.float()).abs().max() <= 5.0 + 1e-3


def test_augment_off_keeps_crop_and_flip_but_not_scale_or_jitter() -> None:
    steps = [type(t) for t in train_transforms((48, 64), augment=False).transforms]
    assert RandomScale not in steps and v2.ColorJitter not in steps
    assert v2.RandomCrop in steps and v2.RandomHorizontalFlip in steps
    image, mask = encoded_sample()
    out_image, out_mask = train_transforms((48, 64), hflip=False, augment=False)(image, mask)
    assert torch.equal(out_mask, mask.long())
    torch.testing.assert_close(denormalise(out_image), image.float(), atol=0.01, rtol=0)


def test_only_the_synthetic_set_skips_scale_and_jitter() -> None:
    from segbench.data import DATASETS, dataset_info

    assert {name for name in DATASETS.names() if not dataset_info(name).augment} == {"synthetic"}
