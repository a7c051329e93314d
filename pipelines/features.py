"""The profiling functions: one implementation for every driver.

Value statistics and texture measures run in compiled kernels, one pass per
image over a padded batch of any shapes (``batch_stats``); content hashes
run in TensorFlow over a batch of same-shape images (``content_hashes``).
The hash inputs are exactly what imagehash computes (``batch_hash_inputs``:
Pillow's ``convert("L")``, then LANCZOS resizes to a 32x32 thumbnail and an
8x9 grid, compiled in ``pipelines.resample``), so our pHash and dHash equal
its values bit for bit; ``batch_hashes`` adds the hashes themselves (the
2-D DCT-II of the thumbnails against the median of their 8x8 low
frequencies, row differences of the grids). ``finish_batch`` turns a
measured batch into table columns.
``image_features`` measures one image through the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf

from audit.hashes import HASH_SIDE, dhash_bits, pack_bits, phash_bits
from audit.table import THUMB_SIZE
from pipelines.header import FORMATS, batch_header_info
from pipelines.resample import Taps, lanczos_taps, resize_batch
from pipelines.stats_kernels import LUMA, VALUES, measure


def gray_array(image: np.ndarray) -> np.ndarray:
    """8-bit grayscale (H, W) of one HxWxC image that is not uint8 (uint8 goes to the kernel).

    Float images (0-1, -1..1, standardised) are converted with Pillow's luma
    weights and stretched to their own 0-255 range, which keeps hashes and
    thumbnails comparable across value scales. NaN/Inf become 0.
    """
    x = image.astype(np.float64)
    gray = x[..., 0] if x.shape[-1] < 3 else x[..., :3] @ np.array(LUMA)
    finite = np.isfinite(gray)
    lo = gray[finite].min() if finite.any() else 0.0
    hi = gray[finite].max() if finite.any() else 0.0
    scaled = (gray - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(gray)
    return np.round(np.where(finite, scaled, 0.0)).astype(np.uint8)


def rows_by_shape(shapes: Iterable[Sequence[int]]) -> dict[tuple[int, ...], list[int]]:
    """Row indices grouped by shape, shapes in order of first appearance: one call per group."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(int(d) for d in shape), []).append(i)
    return groups


def _taps(height: int, width: int) -> tuple[tuple[Taps, Taps], tuple[Taps, Taps]]:
    """The (across, down) resize taps of a (height, width) image: to the thumbnail, to the grid."""
    thumb = (lanczos_taps(width, THUMB_SIZE), lanczos_taps(height, THUMB_SIZE))
    grid = (lanczos_taps(width, HASH_SIDE + 1), lanczos_taps(height, HASH_SIDE))
    return thumb, grid


def batch_hash_inputs(flat: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32x32 thumbnails and 8x9 dHash grids of a padded batch, as imagehash computes them.

    Row ``i`` of ``flat`` holds image ``i`` (shape ``shapes[i]``) followed by
    padding. Exactly what imagehash feeds its DCT and its row differences
    (LANCZOS resizes of the ``convert("L")`` image), so our pHash/dHash equal
    imagehash's. uint8 images go to the compiled ``resample.resize_batch``
    straight from the batch, one call per shape; other dtypes are made
    8-bit gray first (``gray_array``).
    """
    shapes = np.asarray(shapes, np.int64).reshape(-1, 3)
    flat = np.asarray(flat).reshape(len(shapes), -1)
    if flat.dtype != np.uint8:
        images = [flat[i, : int(np.prod(shape))].reshape(shape) for i, shape in enumerate(shapes)]
        return gray_hash_inputs([gray_array(image) for image in images])
    thumbs = np.empty((len(shapes), THUMB_SIZE, THUMB_SIZE), np.uint8)
    grids = np.empty((len(shapes), HASH_SIDE, HASH_SIDE + 1), np.uint8)
    flat = np.ascontiguousarray(flat)
    for shape, rows in rows_by_shape(shapes).items():
        thumb, grid = _taps(shape[0], shape[1])
        resize_batch(flat, np.array(rows), np.array(shape), thumb, grid, thumbs, grids)
    return thumbs, grids


def gray_hash_inputs(grays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``batch_hash_inputs`` of 8-bit grayscale (H, W) images of any sizes."""
    shapes = np.array([(*gray.shape, 1) for gray in grays], np.int64).reshape(-1, 3)
    flat = np.zeros((len(grays), max((gray.size for gray in grays), default=0)), np.uint8)
    for row, gray in zip(flat, grays, strict=True):
        row[: gray.size] = gray.ravel()
    return batch_hash_inputs(flat, shapes)


STATS_DTYPES: dict[str, np.dtype] = {
    "height": np.dtype(np.int64),
    "width": np.dtype(np.int64),
    "channels": np.dtype(np.int64),
    "min": np.dtype(np.float32),
    "max": np.dtype(np.float32),
    "mean": np.dtype(np.float32),
    "std": np.dtype(np.float32),
    "ch_mean": np.dtype(np.float32),
    "ch_std": np.dtype(np.float32),
    "nonfinite": np.dtype(np.int64),
    "sharpness": np.dtype(np.float32),
    "colorfulness": np.dtype(np.float32),
}
"""What ``batch_stats`` returns, one row per image (``ch_mean``/``ch_std`` are [B, 3])."""


def batch_stats(flat: np.ndarray, shapes: np.ndarray) -> dict[str, np.ndarray]:
    """Shape, value statistics and texture (``STATS_DTYPES``) of a padded batch of images.

    Row ``i`` of ``flat`` holds image ``i`` (shape ``shapes[i]``) followed by
    padding. Statistics cover the colour channels (alpha excluded); 8-bit
    images are summed exactly, other dtypes as float32 over their finite
    values, with NaN/Inf counted in ``nonfinite``. Channel figures past an
    image's own channels are NaN. Sharpness and colourfulness come from the
    central square (``stats_kernels.TEXTURE_SIDE``) at full resolution, so blur stays
    visible and a large photo costs no more than a small one; drift checks
    divide both by each split's value range, so 0-1 and 0-255 splits
    compare. Compiled kernels: ``pipelines.stats_kernels``.
    """
    shapes = np.asarray(shapes, np.int64).reshape(-1, 3)
    flat = np.asarray(flat).reshape(len(shapes), -1)
    exact = flat.dtype == np.uint8
    flat = np.ascontiguousarray(flat if exact else flat.astype(np.float32, copy=False))
    values = np.empty((len(shapes), len(VALUES)))
    nonfinite = np.empty(len(shapes), np.int64)
    measure(flat, shapes, exact, values, nonfinite)
    column = dict(zip(VALUES, values.astype(np.float32).T, strict=True))
    return {  # in STATS_DTYPES order: batch_measures hands them on as a tuple
        "height": shapes[:, 0].copy(),
        "width": shapes[:, 1].copy(),
        "channels": shapes[:, 2].copy(),
        **{k: column[k] for k in ("min", "max", "mean", "std")},
        "ch_mean": np.stack([column[f"mean_c{c}"] for c in range(3)], axis=1),
        "ch_std": np.stack([column[f"std_c{c}"] for c in range(3)], axis=1),
        "nonfinite": nonfinite,
        **{k: column[k] for k in ("sharpness", "colorfulness")},
    }


MEASURES = (*STATS_DTYPES, "thumb", "phash", "dhash")
"""What ``batch_measures`` returns, in order."""


def batch_hashes(flat: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Thumbnails, pHashes and dHashes (uint64) of a padded batch."""
    thumbs, grids = batch_hash_inputs(flat, shapes)
    return thumbs, pack_bits(phash_bits(thumbs)), pack_bits(dhash_bits(grids))


def batch_measures(flat: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, ...]:
    """``batch_stats`` and ``batch_hashes`` of a padded batch, as a tuple (``MEASURES``).

    Called in tf.data's parallel batch stage: the pHash DCT belongs here, off
    the thread that collects the rows.
    """
    stats = batch_stats(flat, shapes)
    return (*stats.values(), *batch_hashes(flat, shapes))


def content_hashes(images: tf.Tensor) -> tf.Tensor:
    """[B, 8] uint8: a 64-bit fingerprint of each image's dtype, shape and values.

    Equal fingerprints mean identical decoded pixels: exact duplicates.
    ``tf.fingerprint`` (FarmHash64) hashes a batch in the graph, 2 ms for 256
    photos of 256x256, where BLAKE2b in Python took 37 ms holding the GIL.
    """
    n = tf.shape(images)[0]
    if images.dtype == tf.bool:
        images = tf.cast(images, tf.uint8)
    values = images if images.dtype == tf.uint8 else tf.bitcast(images, tf.uint8)
    body = tf.fingerprint(tf.reshape(values, [n, -1]))
    header = tf.concat(
        [[images.dtype.as_datatype_enum], tf.shape(images, out_type=tf.int64)[1:]], axis=0
    )
    header = tf.reshape(tf.bitcast(header, tf.uint8), [1, -1])
    return tf.fingerprint(tf.concat([tf.tile(header, [n, 1]), body], axis=1))


def image_features(image: np.ndarray, head: bytes = b"") -> dict[str, np.ndarray]:
    """Every measurement of one HxWxC image, as a batch of one (for images Pillow decoded).

    ``head`` is the start of the encoded file, for its format and orientation.
    """
    out = batch_stats(image.reshape(1, -1), np.array([image.shape]))
    out["content_hash"] = content_hashes(tf.constant(image)[None]).numpy()
    thumb, phash, dhash = batch_hashes(image.reshape(1, -1), np.array([image.shape]))
    codes, orient = batch_header_info(np.array([head], object))
    out.update(thumb=thumb, phash=phash, dhash=dhash, format=codes, orientation=orient)
    return out


def finish_batch(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Table columns from a batch of ``image_features`` outputs."""
    n = len(features["height"])
    digests = np.ascontiguousarray(features["content_hash"], dtype=np.uint8)
    lo, hi = features["min"].astype(np.float64), features["max"].astype(np.float64)
    cols = {
        "height": features["height"],
        "width": features["width"],
        "channels": features["channels"],
        "min": np.where(np.isfinite(lo), lo, np.nan),
        "max": np.where(np.isfinite(hi), hi, np.nan),
        "mean": features["mean"].astype(np.float64),
        "std": features["std"].astype(np.float64),
        "nonfinite": features["nonfinite"],
        "sharpness": features["sharpness"].astype(np.float64),
        "colorfulness": features["colorfulness"].astype(np.float64),
        "format": np.array([FORMATS[c] or None for c in features["format"]], dtype=object),
        "orientation": features["orientation"].astype(np.int64),
        "content_hash": digests.view("<u8").reshape(n).astype(np.uint64),
        "phash": features["phash"],
        "dhash": features["dhash"],
        "thumb": features["thumb"].reshape(n, -1),
    }
    for c in range(3):
        cols[f"mean_c{c}"] = features["ch_mean"][:, c].astype(np.float64)
        cols[f"std_c{c}"] = features["ch_std"][:, c].astype(np.float64)
    return cols
