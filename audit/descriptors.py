"""Geometric-edit candidates: nearest neighbours in two descriptor spaces.

Perceptual hashes move by 10 to 40 bits under a 6-degree rotation, a 2-pixel
shift or a 10% crop of a small image, so such copies never become hash
candidates. Here each thumbnail also gets two small float descriptors, and
every query image's nearest reference images under them (FAISS, exact inner
product) become candidates for the alignment check:

- ``canonical``: the thumbnail moved so its intensity centroid is centred
  and scaled to a fixed radius of gyration (image moments), which undoes
  translation and crop-and-resize of an object on a plain background
  (digits, product shots);
- ``inner``: the blurred inner part of the thumbnail, which the fill of a
  rotation or shift does not reach; robust for photos, whose centroid moves
  with their content.

Queries are also searched rotated by +-ROTATION degrees, so a rotated copy
meets its source in both spaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from audit.alignment import moments, pool, smoothed, warp_images
from audit.parallel import ordered_map
from audit.table import THUMB_SIZE

ROTATION = 6.0
"""Degrees by which queries are also rotated (each way) before searching."""

GYRATION_RADIUS = 8.0
"""Radius of gyration (thumbnail pixels) that canonical thumbnails are scaled to."""

INNER_CROP = 4
"""Border (thumbnail pixels) cut off for the ``inner`` descriptor."""

NEIGHBOURS = 4
"""Reference images returned per query, descriptor and rotation."""

KEEP = 6
"""Candidates kept per query (the best by descriptor score) for the costly alignment."""

BLOCK = 1024
"""Thumbnails turned into descriptors at a time (bounds the float working arrays).

Measured on 10,000 digit thumbnails: 0.70-0.75 s at 1,024 against 1.05-1.87 s
at 8,192, whose 32 MB arrays miss the cache and take fresh pages from the OS.
"""


def _rotation(params: np.ndarray, degrees: float) -> np.ndarray:
    """``params`` composed with a rotation about the centre (scale kept)."""
    t = np.deg2rad(degrees)
    scale = 1 + params[:, 0]
    out = params.copy()
    out[:, 0], out[:, 1] = scale * np.cos(t) - 1, scale * np.sin(t)
    return out


def canonical_params(mom: np.ndarray) -> np.ndarray:
    """Warp parameters that centre each thumbnail's centroid and scale it to GYRATION_RADIUS."""
    c = (THUMB_SIZE - 1) / 2
    scale = np.maximum(mom[:, 2], 0.5) / GYRATION_RADIUS
    return np.stack([scale - 1, np.zeros(len(mom)), mom[:, 1] - c, mom[:, 0] - c], axis=1).astype(
        np.float32
    )


def _normalised(x: np.ndarray) -> np.ndarray:
    """Rows minus their means, scaled to unit length (inner product = correlation)."""
    x = x.reshape(len(x), -1).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def _prepared(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What every rotation's descriptors start from: smoothed, blurred and canonical warps."""
    return smoothed(thumbs), smoothed(thumbs, 1.5), canonical_params(moments(thumbs))


def _described(prepared: tuple[np.ndarray, ...], rotate: float) -> dict[str, np.ndarray]:
    """The descriptors of ``_prepared`` thumbnails, turned by ``rotate`` degrees first."""
    soft, blurred, params = prepared
    n = len(soft)
    if rotate:
        params = _rotation(params, rotate)
    canonical = warp_images(soft, params)
    if rotate:
        blurred = warp_images(blurred, _rotation(np.zeros((n, 4), np.float32), rotate))
    k = INNER_CROP
    inner = blurred.reshape(n, THUMB_SIZE, THUMB_SIZE)[:, k:-k, k:-k].reshape(n, -1)
    return {
        "canonical": _normalised(pool(canonical)),
        "inner": _normalised(pool(inner)),
    }


def descriptors(thumbs: np.ndarray, rotate: float = 0.0) -> dict[str, np.ndarray]:
    """The ``canonical`` and ``inner`` descriptors of thumbnails, optionally rotated first."""
    return _described(_prepared(thumbs), rotate)


def flat(thumbs: np.ndarray, block: int = 8192) -> np.ndarray:
    """Thumbnails with (almost) no contrast: nothing to align."""
    out = np.empty(len(thumbs), bool)
    for s in range(0, len(thumbs), block):
        part = thumbs[s : s + block].reshape(-1, thumbs[0].size).astype(np.float32)
        out[s : s + block] = part.std(axis=1) < 1.0
    return out


class NeighbourIndex:
    """Exact inner-product indexes (FAISS) of references' descriptors, row k = reference k.

    Flat references get zero descriptors, so they score 0 against every
    query and are never returned. Built once (or read from a dataset
    index, which keeps ``indexes`` beside its pHash index), then
    ``candidates(queries)`` may be called on any number of query blocks and
    ``add`` appends references.
    """

    NAMES = ("canonical", "inner")

    def __init__(self, indexes: dict[str, Any] | None = None) -> None:
        import faiss

        sizes = (THUMB_SIZE // 2) ** 2, ((THUMB_SIZE - 2 * INNER_CROP) // 2) ** 2
        self.indexes = indexes or {
            name: faiss.IndexFlatIP(d) for name, d in zip(self.NAMES, sizes, strict=True)
        }

    @classmethod
    def of(cls, references: np.ndarray) -> NeighbourIndex:
        """An index of the thumbnails ``references``."""
        index = cls()
        index.add(references)
        return index

    @property
    def size(self) -> int:
        """References indexed."""
        return int(self.indexes["inner"].ntotal)

    def add(self, references: np.ndarray, advance: Callable[[int], None] | None = None) -> None:
        """Append the descriptors of the thumbnails ``references``, in blocks of BLOCK.

        ``advance(n)`` is told after each block (a progress bar: 100,000
        images take about 10 s).
        """

        def described(start: int) -> dict[str, np.ndarray]:
            block = references[start : start + BLOCK]
            out, plain = descriptors(block), flat(block)
            for vectors in out.values():
                vectors[plain] = 0.0
            return out

        for found in ordered_map(described, range(0, len(references), BLOCK)):
            for name, vectors in found.items():
                self.indexes[name].add(vectors)
            if advance is not None:
                advance(len(found["inner"]))

    def candidates(
        self, queries: np.ndarray, k: int = NEIGHBOURS, keep: int = KEEP
    ) -> pd.DataFrame:
        """Candidate pairs (``q`` into queries, ``r`` into references) and their best score.

        Every query is searched as it is and rotated by +-ROTATION in both
        descriptor spaces; the union of the ``k`` nearest references of each
        search is pooled, and the ``keep`` best of each query by descriptor
        score are returned, one row per pair.
        """

        def turned(start: int) -> list[dict[str, np.ndarray]]:
            prepared = _prepared(queries[start : start + BLOCK])  # once for the three turns
            return [_described(prepared, angle) for angle in (0.0, ROTATION, -ROTATION)]

        parts = [pd.DataFrame({"q": [], "r": [], "score": []})]
        starts = range(0, len(queries), BLOCK)
        for start, turns in zip(starts, ordered_map(turned, starts), strict=True):
            for described in turns:
                for name, vectors in described.items():
                    score, found = self.indexes[name].search(vectors, min(k, self.size))
                    rows = start + np.repeat(np.arange(len(vectors)), found.shape[1])
                    parts.append(
                        pd.DataFrame({"q": rows, "r": found.ravel(), "score": score.ravel()})
                    )
        frame = pd.concat(parts, ignore_index=True).astype({"q": int, "r": int})
        frame = frame[(frame["r"] >= 0) & (frame["score"] > 0)]
        frame = frame.groupby(["q", "r"], as_index=False)["score"].max()
        frame = frame.sort_values(["q", "score"], ascending=[True, False])
        return frame[frame.groupby("q").cumcount() < keep].reset_index(drop=True)


def neighbour_candidates(
    queries: np.ndarray, references: np.ndarray, k: int = NEIGHBOURS, keep: int = KEEP
) -> pd.DataFrame:
    """``NeighbourIndex.of(references).candidates(queries, k, keep)``: both are thumbnails."""
    return NeighbourIndex.of(references).candidates(queries, k, keep)
