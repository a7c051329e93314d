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

import numpy as np
import pandas as pd
from scipy import ndimage

from audit.alignment import moments, pool, sample, warp_coords
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


def descriptors(thumbs: np.ndarray, rotate: float = 0.0) -> dict[str, np.ndarray]:
    """The ``canonical`` and ``inner`` descriptors of thumbnails, optionally rotated first."""
    n = len(thumbs)
    soft = ndimage.gaussian_filter(thumbs.astype(np.float32), (0, 1, 1)).reshape(n, -1)
    params = canonical_params(moments(thumbs))
    if rotate:
        params = _rotation(params, rotate)
    canonical = sample(soft, *warp_coords(params, THUMB_SIZE))[0]
    blurred = ndimage.gaussian_filter(thumbs.astype(np.float32), (0, 1.5, 1.5)).reshape(n, -1)
    if rotate:
        turn = _rotation(np.zeros((n, 4), np.float32), rotate)
        blurred = sample(blurred, *warp_coords(turn, THUMB_SIZE))[0]
    k = INNER_CROP
    inner = blurred.reshape(n, THUMB_SIZE, THUMB_SIZE)[:, k:-k, k:-k].reshape(n, -1)
    return {
        "canonical": _normalised(pool(canonical)),
        "inner": _normalised(pool(inner)),
    }


def neighbour_candidates(
    queries: np.ndarray, references: np.ndarray, k: int = NEIGHBOURS, keep: int = KEEP
) -> pd.DataFrame:
    """Candidate pairs (``q`` into queries, ``r`` into references) and their best descriptor score.

    Both arguments are thumbnails (n, 32, 32). Every query is searched as it
    is and rotated by +-ROTATION in both descriptor spaces; the union of the
    ``k`` nearest references of each search is pooled, and the ``keep`` best
    of each query by descriptor score are returned, one row per pair.
    """
    import faiss

    indexes = {}
    for name, vectors in descriptors(references).items():
        indexes[name] = faiss.IndexFlatIP(vectors.shape[1])
        indexes[name].add(vectors)
    parts = []
    for angle in (0.0, ROTATION, -ROTATION):
        for name, vectors in descriptors(queries, angle).items():
            score, found = indexes[name].search(vectors, min(k, len(references)))
            parts.append(
                pd.DataFrame(
                    {
                        "q": np.repeat(np.arange(len(queries)), found.shape[1]),
                        "r": found.ravel(),
                        "score": score.ravel(),
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["r"] >= 0].groupby(["q", "r"], as_index=False)["score"].max()
    frame = frame.sort_values(["q", "score"], ascending=[True, False])
    return frame[frame.groupby("q").cumcount() < keep].reset_index(drop=True)
