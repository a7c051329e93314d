"""The batched LANCZOS resize equals Pillow's, pixel for pixel, whatever the sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.features import gray_array, gray_hash_inputs
from pipelines.resample import lanczos_matrix, resize_gray


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
    grays = [gray_array(p) for p in photos[:20]] + [d for d in digits[0][:50]]
    thumbs, grids = gray_hash_inputs(grays)
    for gray, thumb, grid in zip(grays, thumbs, grids, strict=True):
        np.testing.assert_array_equal(thumb, _pillow(gray, 32, 32))
        np.testing.assert_array_equal(grid, _pillow(gray, 9, 8))


def test_big_batches_are_resized_in_chunks_with_the_same_result():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (20, 300, 200), dtype=np.uint8)  # 1.2 Mi pixels: 3 chunks
    whole = resize_gray(images, 32, 32)
    one_by_one = np.concatenate([resize_gray(im[None], 32, 32) for im in images])
    np.testing.assert_array_equal(whole, one_by_one)


def test_weights_are_pillows_fixed_point_and_sum_to_one():
    matrix = lanczos_matrix(256, 32)
    assert np.all(matrix == np.round(matrix))
    np.testing.assert_allclose(matrix.sum(axis=1), 2**22, atol=len(matrix[0]))
    assert (matrix < 0).any()  # Lanczos has negative lobes
