"""The compiled gray conversion and LANCZOS resize equal Pillow's, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.features import batch_hash_inputs, gray_hash_inputs
from pipelines.resample import lanczos_taps, resize_gray
from tests.helpers import padded_batch


def _pillow(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(gray).resize((width, height), Image.Resampling.LANCZOS))


SIZES = [
    ((28, 28), (32, 32)),  # digit up to thumbnail
    ((28, 28), (9, 8)),  # digit down to the dHash grid
    ((256, 256), (32, 32)),  # photo down 8x
    ((37, 53), (32, 32)),  # odd, one side up, one down
    ((1, 40), (32, 32)),  # one row
    ((3, 2), (9, 8)),  # tiny
    ((600, 17), (32, 32)),  # tall and thin
    ((32, 32), (32, 32)),  # unchanged: Pillow copies
    ((32, 100), (32, 32)),  # only the width changes
]


IDS = [f"{s[0]}x{s[1]}-to-{t[0]}x{t[1]}" for s, t in SIZES]


@pytest.mark.parametrize(("shape", "size"), SIZES, ids=IDS)
def test_random_images_match_pillow(shape, size):
    rng = np.random.default_rng(sum(shape) + sum(size))
    noise = rng.integers(0, 256, (12, *shape), dtype=np.uint8)
    edges = np.zeros((2, *shape), np.uint8)
    edges[0, :, ::2] = 255  # maximal overshoot of the negative lobes: clipping
    edges[1] = 255
    images = np.concatenate([noise, edges])
    ours = resize_gray(images, *size)
    assert ours.shape == (len(images), size[1], size[0])
    for image, mine in zip(images, ours, strict=True):
        np.testing.assert_array_equal(mine, _pillow(image, *size))


def test_real_photos_and_digits_match_pillow(photos, digits):
    grays = [np.asarray(Image.fromarray(p).convert("L")) for p in photos[:20]]
    grays += list(digits[0][:50])
    thumbs, grids = gray_hash_inputs(grays)
    for gray, thumb, grid in zip(grays, thumbs, grids, strict=True):
        np.testing.assert_array_equal(thumb, _pillow(gray, 32, 32))
        np.testing.assert_array_equal(grid, _pillow(gray, 9, 8))


def test_padded_batch_of_every_layout_matches_pillow_image_by_image(photos):
    """Gray, gray+alpha, RGB and RGBA, mixed sizes, in one padded batch: Pillow's values."""
    rng = np.random.default_rng(5)
    images = [
        photos[0],  # RGB photo, 128x128
        photos[1][:40, :70],
        rng.integers(0, 256, (33, 47, 4), dtype=np.uint8),  # RGBA
        rng.integers(0, 256, (28, 28, 1), dtype=np.uint8),  # gray
        rng.integers(0, 256, (19, 64, 2), dtype=np.uint8),  # gray + alpha
        photos[2],  # a second image of the first shape, not next to it
    ]
    thumbs, grids = batch_hash_inputs(*padded_batch(images, fill=99, extra=7))
    for image, thumb, grid in zip(images, thumbs, grids, strict=True):
        modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
        pil = Image.fromarray(
            image[..., 0] if image.shape[2] == 1 else image, modes[image.shape[2]]
        )
        gray = pil.convert("L")
        np.testing.assert_array_equal(
            thumb, np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS))
        )
        np.testing.assert_array_equal(
            grid, np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS))
        )


def test_weights_are_pillows_fixed_point_and_sum_to_one():
    first, count, weights = lanczos_taps(256, 32)
    assert weights.dtype == np.int32
    assert np.abs(weights.sum(axis=1) - 2**22).max() <= count.max()  # rounding of each tap
    assert (weights < 0).any()  # Lanczos has negative lobes
    assert (first + count <= 256).all() and (first >= 0).all()
    for k in range(32):
        assert (weights[k, count[k] :] == 0).all()
