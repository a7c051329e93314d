"""Verifying duplicate candidates on thumbnails: shift-tolerant correlation.

Perceptual hashes of small images collide (distinct 28x28 digits often sit
within a few bits), so every hash candidate is confirmed on the 32x32
grayscale thumbnails: the Pearson correlation of the overlapping region,
maximised over small translations. Correlation ignores brightness and
contrast changes; the shift search absorbs translations and small crops.
"""

from __future__ import annotations

import numpy as np

from audit import similarity_kernels
from audit.parallel import ordered_map
from audit.table import THUMB_SIZE


def _row_dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise dot products as a batch of BLAS dots: no product array, float32 error ~1e-7."""
    return (x[:, None, :] @ y[:, :, None])[:, 0, 0]


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of float32 rows; constant rows score 1 if equal, else 0.

    Means are taken once and the sums are BLAS dots, so no product array is
    built: the unshifted pass over every hash candidate is memory-bound, and
    this halves its time.
    """
    mean_a, mean_b = a.mean(axis=1), b.mean(axis=1)
    ca, cb = a - mean_a[:, None], b - mean_b[:, None]
    na, nb = np.sqrt(_row_dot(ca, ca)), np.sqrt(_row_dot(cb, cb))
    flat = (na < 1e-6) | (nb < 1e-6)
    corr = _row_dot(ca, cb) / np.where(flat, 1.0, na * nb)
    same_level = np.abs(mean_a - mean_b) < 2.0
    return np.where(flat, ((na < 1e-6) & (nb < 1e-6) & same_level).astype(float), corr)


SHIFT_SEARCH_MARGIN = 0.1
"""Pairs whose unshifted correlation is this far below the threshold skip the shift search."""


def shift_floor(threshold: float | None) -> float:
    """Unshifted correlation from which a pair gets the shift search (any, without threshold)."""
    return -2.0 if threshold is None else threshold - SHIFT_SEARCH_MARGIN


def thumbnail_similarity(
    a: np.ndarray,
    b: np.ndarray,
    max_shift: int = 2,
    threshold: float | None = None,
    block: int = 8192,
) -> np.ndarray:
    """Best correlation of thumbnail pairs ``a[i]``, ``b[i]`` over shifts up to ``max_shift`` px.

    With ``threshold``, only pairs whose unshifted correlation is within
    SHIFT_SEARCH_MARGIN of it get the shift search (the rest keep their
    unshifted score): the search costs (2 * max_shift + 1) ** 2 correlations.
    """
    out = np.empty(len(a))
    for s in range(0, len(a), block):
        out[s : s + block] = _similarity_block(a[s : s + block], b[s : s + block], 0)
    if max_shift > 0:
        near = np.nonzero(out >= shift_floor(threshold))[0]
        for s in range(0, len(near), block):
            rows = near[s : s + block]
            out[rows] = _similarity_block(a[rows], b[rows], max_shift)
    return out


def pair_similarity(
    a: np.ndarray,
    b: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    mirrored: np.ndarray | None = None,
    max_shift: int = 2,
    threshold: float | None = None,
) -> np.ndarray:
    """``thumbnail_similarity`` of the pairs (``a[i[k]]``, ``b[j[k]]``), uint8 thumbnails, compiled.

    ``mirrored[k]`` compares ``b[j[k]]`` flipped left to right. The kernel
    (``similarity_kernels``) reads the pairs where they are, so memory does
    not grow with the candidates; chunks of pairs run on one thread per core.
    """
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise TypeError("pair_similarity compares uint8 thumbnails")
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    flips = np.zeros(len(i), bool) if mirrored is None else np.asarray(mirrored, bool)
    floor = shift_floor(threshold)

    def one(s: int) -> np.ndarray:
        part = slice(s, s + CHUNK)
        return similarity_kernels.pair_similarity(
            a, b, i[part], j[part], flips[part], max_shift, floor
        )

    scores = list(ordered_map(one, range(0, len(i), CHUNK)))
    return np.concatenate(scores) if scores else np.empty(0)


CHUNK = 8192
"""Pairs per kernel call: enough to share the candidates out over the cores."""


def numpy_pair_similarity(
    a: np.ndarray,
    b: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    mirrored: np.ndarray | None = None,
    max_shift: int = 2,
    threshold: float | None = None,
    block: int = 8192,
) -> np.ndarray:
    """``pair_similarity`` in NumPy, gathering a block of pairs at a time.

    The compiled kernel's oracle in the tests and its peer in
    ``benchmarks/verification_speed.py``.
    """
    out = np.empty(len(i))
    for s in range(0, len(i), block):
        other = b[j[s : s + block]]
        if mirrored is not None and mirrored[s : s + block].any():
            flip = mirrored[s : s + block]
            other[flip] = other[flip][:, :, ::-1]
        out[s : s + block] = thumbnail_similarity(
            a[i[s : s + block]], other, max_shift, threshold, block
        )
    return out


def _similarity_block(a: np.ndarray, b: np.ndarray, max_shift: int) -> np.ndarray:
    """``thumbnail_similarity`` of one block of pairs."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    n, size = len(a), THUMB_SIZE
    best = np.full(n, -1.0)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            ya, yb = max(dy, 0), max(-dy, 0)
            xa, xb = max(dx, 0), max(-dx, 0)
            h, w = size - abs(dy), size - abs(dx)
            pa = a[:, ya : ya + h, xa : xa + w].reshape(n, -1)
            pb = b[:, yb : yb + h, xb : xb + w].reshape(n, -1)
            best = np.maximum(best, _correlation(pa, pb))
    return best
