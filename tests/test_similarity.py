"""Thumbnail verification: block-wise gathering and the fast correlation agree with plain NumPy."""

from __future__ import annotations

import numpy as np

from audit.similarity import pair_similarity, thumbnail_similarity
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
    got = thumbnail_similarity(thumbs[i], thumbs[j], max_shift=0)
    same = i == j
    assert np.allclose(got[~same], _pearson(thumbs[i], thumbs[j])[~same], atol=1e-5)
    assert np.allclose(got[same], 1.0, atol=1e-5)


def test_pair_similarity_gathers_block_by_block_and_mirrors(mnist):
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
    got = pair_similarity(thumbs, thumbs, i, j, mirrored, max_shift=1, threshold=0.99, block=128)
    assert np.array_equal(got, expected)
    assert (got[:50] > 0.9999).all()  # an image against itself
    assert (got[50:100] < 0.99).all()  # against its own mirror image (digits are not symmetric)


def test_flat_thumbnails_match_only_at_the_same_level():
    flat = np.full((3, THUMB_SIZE, THUMB_SIZE), 100, np.uint8)
    flat[1] += 1  # one level up: the same blank picture, re-encoded
    flat[2] += 50
    got = thumbnail_similarity(flat[[0, 0]], flat[[1, 2]], max_shift=0)
    assert got.tolist() == [1.0, 0.0]
