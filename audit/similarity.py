"""Verifying duplicate candidates on thumbnails: shift-tolerant correlation.

Perceptual hashes of small images collide (distinct 28x28 digits often sit
within a few bits), so every hash candidate is confirmed on the 32x32
grayscale thumbnails: the Pearson correlation of the overlapping region,
maximised over small translations. Correlation ignores brightness and
contrast changes; the shift search absorbs translations and small crops.
"""

from __future__ import annotations

import numpy as np

from audit.table import THUMB_SIZE


def _centered(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` (n, k) minus their means, and their norms."""
    c = x - x.mean(axis=1, keepdims=True)
    return c, np.sqrt((c * c).sum(axis=1))


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation; constant rows score 1 if equal, else 0."""
    ca, na = _centered(a)
    cb, nb = _centered(b)
    flat = (na < 1e-6) | (nb < 1e-6)
    corr = (ca * cb).sum(axis=1) / np.where(flat, 1.0, na * nb)
    same_level = np.abs(a.mean(axis=1) - b.mean(axis=1)) < 2.0
    return np.where(flat, ((na < 1e-6) & (nb < 1e-6) & same_level).astype(float), corr)


SHIFT_SEARCH_MARGIN = 0.1
"""Pairs whose unshifted correlation is this far below the threshold skip the shift search."""


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
        floor = -2.0 if threshold is None else threshold - SHIFT_SEARCH_MARGIN
        near = np.nonzero(out >= floor)[0]
        for s in range(0, len(near), block):
            rows = near[s : s + block]
            out[rows] = _similarity_block(a[rows], b[rows], max_shift)
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
