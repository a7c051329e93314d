"""Thumbnail verification: the compiled kernel and block-wise NumPy agree with plain Pearson."""

from __future__ import annotations

import numpy as np
import pytest

from audit.similarity import numpy_pair_similarity, pair_similarity, thumbnail_similarity
from audit.table import THUMB_SIZE
from pipelines.features import gray_hash_inputs


def _thumbs(images: np.ndarray) -> np.ndarray:
    """The profile's 32x32 thumbnails of grayscale digits."""
    return gray_hash_inputs(list(images))[0]


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    ca, cb = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    return (ca * cb).sum(axis=1) / np.sqrt((ca * ca).sum(axis=1) * (cb * cb).sum(axis=1))


def test_unshifted_similarity_is_the_pearson_correlation(mnist):
    x, _ = mnist
    thumbs = _thumbs(x[:400])
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 400, 3000), rng.integers(0, 400, 3000)
    same = i == j
    expected = _pearson(thumbs[i], thumbs[j])
    for got in (
        thumbnail_similarity(thumbs[i], thumbs[j], max_shift=0),
        pair_similarity(thumbs, thumbs, i, j, max_shift=0),
    ):
        assert np.allclose(got[~same], expected[~same], atol=1e-5)
        assert np.allclose(got[same], 1.0, atol=1e-5)


def test_numpy_pair_similarity_gathers_block_by_block_and_mirrors(mnist):
    x, _ = mnist
    thumbs = _thumbs(x[:300])
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, 300, 1000), rng.integers(0, 300, 1000)
    j[:100] = i[:100]
    mirrored = np.zeros(1000, bool)
    mirrored[50:150] = True
    other = thumbs[j].copy()
    other[mirrored] = other[mirrored][:, :, ::-1]
    expected = thumbnail_similarity(thumbs[i], other, max_shift=1, threshold=0.99)
    got = numpy_pair_similarity(
        thumbs, thumbs, i, j, mirrored, max_shift=1, threshold=0.99, block=128
    )
    assert np.array_equal(got, expected)
    assert (got[:50] > 0.9999).all()  # an image against itself
    assert (got[50:100] < 0.99).all()  # against its own mirror image (digits are not symmetric)


def test_flat_thumbnails_match_only_at_the_same_level():
    flat = np.full((3, THUMB_SIZE, THUMB_SIZE), 100, np.uint8)
    flat[1] += 1  # one level up: the same blank picture, re-encoded
    flat[2] += 50
    digit = np.arange(THUMB_SIZE * THUMB_SIZE, dtype=np.uint8).reshape(1, THUMB_SIZE, THUMB_SIZE)
    stack = np.concatenate([flat, digit])
    i, j = np.array([0, 0, 0]), np.array([1, 2, 3])
    assert thumbnail_similarity(stack[i], stack[j], max_shift=0).tolist() == [1.0, 0.0, 0.0]
    assert pair_similarity(stack, stack, i, j, max_shift=1).tolist() == [1.0, 0.0, 0.0]


def test_compiled_pair_similarity_equals_numpy(mnist):
    """The kernel gives NumPy's scores: plain, mirrored, shifted copies, shift search or not."""
    x, _ = mnist
    thumbs = _thumbs(x[:300])
    shifted = np.roll(thumbs[:100], (1, -1), axis=(1, 2))  # copies one pixel off
    stack = np.concatenate([thumbs, shifted])
    rng = np.random.default_rng(2)
    i, j = rng.integers(0, 300, 20_000), rng.integers(0, 400, 20_000)
    i[:100], j[:100] = np.arange(100), np.arange(300, 400)
    mirrored = rng.random(20_000) < 0.3
    mirrored[:100] = False
    for max_shift, threshold in ((0, None), (1, 0.99), (2, None)):
        expected = numpy_pair_similarity(stack, stack, i, j, mirrored, max_shift, threshold)
        got = pair_similarity(stack, stack, i, j, mirrored, max_shift, threshold)
        assert np.abs(got - expected).max() < 1e-5
        assert ((got >= 0.99) == (expected >= 0.99)).all()
    assert (got[:100] > 0.999).all()  # the shift search finds the shifted copies


def test_compiled_pair_similarity_wants_uint8_thumbnails(mnist):
    thumbs = _thumbs(mnist[0][:4])
    with pytest.raises(TypeError, match="uint8"):
        pair_similarity(thumbs.astype(np.float32), thumbs, np.array([0]), np.array([1]))
