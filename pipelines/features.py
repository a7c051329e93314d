"""The profiling functions: one implementation for every driver.

Value statistics and content hashes run in TensorFlow, vectorised over a
batch of same-shape images (``batch_stats``). The hash inputs are exactly
what imagehash computes (``hash_inputs``: Pillow's ``convert("L")``, then
LANCZOS resizes to a 32x32 thumbnail and an 8x9 grid, done for a batch of
same-size images at once by ``pipelines.resample``), so our pHash and dHash
equal its values bit for bit.
``finish_batch`` turns a batch into table columns with vectorised NumPy: the
2-D DCT-II of the thumbnails and the median of their 8x8 low frequencies
(pHash), row differences (dHash).
``image_features`` measures one image through the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from audit.hashes import HASH_SIDE, dhash_bits, pack_bits, phash_bits
from audit.table import THUMB_SIZE
from pipelines.header import FORMATS, batch_header_info
from pipelines.resample import resize_gray

FEATURE_SPECS: dict[str, tf.TensorSpec] = {
    "height": tf.TensorSpec([], tf.int64),
    "width": tf.TensorSpec([], tf.int64),
    "channels": tf.TensorSpec([], tf.int64),
    "min": tf.TensorSpec([], tf.float32),
    "max": tf.TensorSpec([], tf.float32),
    "mean": tf.TensorSpec([], tf.float32),
    "std": tf.TensorSpec([], tf.float32),
    "ch_mean": tf.TensorSpec([3], tf.float32),
    "ch_std": tf.TensorSpec([3], tf.float32),
    "nonfinite": tf.TensorSpec([], tf.int64),
    "sharpness": tf.TensorSpec([], tf.float32),
    "colorfulness": tf.TensorSpec([], tf.float32),
    "content_hash": tf.TensorSpec([8], tf.uint8),
}
"""What ``batch_stats`` returns per image (with a leading batch axis)."""

LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601 luma weights, as Pillow's ``convert("L")`` uses."""


def gray_array(image: np.ndarray) -> np.ndarray:
    """8-bit grayscale (H, W) of one HxWxC image: Pillow's ``convert("L")`` for uint8.

    Float images (0-1, -1..1, standardised) are converted with the same luma
    weights and stretched to their own 0-255 range, which keeps hashes and
    thumbnails comparable across value scales. NaN/Inf become 0.
    """
    if image.dtype == np.uint8:
        if image.shape[-1] < 3:
            return image[..., 0]
        return np.asarray(Image.fromarray(np.ascontiguousarray(image[..., :3])).convert("L"))
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


def gray_hash_inputs(grays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """32x32 thumbnails and 8x9 dHash grids of 8-bit grayscale images, resized like Pillow.

    Exactly what imagehash feeds its DCT and its row differences (LANCZOS
    resizes of the ``convert("L")`` image), so our pHash/dHash equal
    imagehash's. Images of one size are resized together (``resample``).
    """
    thumbs = np.empty((len(grays), THUMB_SIZE, THUMB_SIZE), np.uint8)
    grids = np.empty((len(grays), HASH_SIDE, HASH_SIDE + 1), np.uint8)
    for members in rows_by_shape(gray.shape for gray in grays).values():
        stack = np.stack([grays[i] for i in members])
        thumbs[members] = resize_gray(stack, THUMB_SIZE, THUMB_SIZE)
        grids[members] = resize_gray(stack, HASH_SIDE + 1, HASH_SIDE)
    return thumbs, grids


def hash_inputs(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 32x32 thumbnail and the 8x9 dHash grid of one HxWxC image."""
    thumbs, grids = gray_hash_inputs([gray_array(image)])
    return thumbs[0], grids[0]


def batch_hash_inputs(flat: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnails and dHash grids of a padded batch.

    Row ``i`` of ``flat`` holds image ``i`` (shape ``shapes[i]``) followed by padding.
    """
    images = [flat[i, : int(np.prod(shape))].reshape(shape) for i, shape in enumerate(shapes)]
    return gray_hash_inputs([gray_array(image) for image in images])


def _pad3(values: tf.Tensor) -> tf.Tensor:
    """Pad per-channel values [B, C<=3] to [B, 3] with NaN."""
    missing = 3 - tf.shape(values)[1]
    return tf.concat([values, tf.fill([tf.shape(values)[0], missing], np.nan)], axis=1)


def _stats_uint8(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics of 8-bit images from exact integer sums (no NaN possible).

    Rows are summed in int32 (a row of up to 33,000 pixels cannot overflow)
    and rows in int64: exact, and half the memory traffic of int64 throughout.
    """
    colour = images[..., :3]
    x = tf.cast(colour, tf.int32)
    s1 = tf.cast(tf.reduce_sum(tf.cast(tf.reduce_sum(x, axis=2), tf.int64), axis=1), tf.float64)
    s2 = tf.cast(tf.reduce_sum(tf.cast(tf.reduce_sum(x * x, axis=2), tf.int64), axis=1), tf.float64)
    hw = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float64)
    mean_c = s1 / hw
    var_c = tf.maximum(s2 / hw - tf.square(mean_c), 0.0)
    n = hw * tf.cast(tf.shape(s1)[1], tf.float64)
    mean = tf.reduce_sum(s1, axis=1) / n
    var = tf.maximum(tf.reduce_sum(s2, axis=1) / n - tf.square(mean), 0.0)
    return {
        "min": tf.cast(tf.reduce_min(colour, axis=[1, 2, 3]), tf.float32),
        "max": tf.cast(tf.reduce_max(colour, axis=[1, 2, 3]), tf.float32),
        "mean": tf.cast(mean, tf.float32),
        "std": tf.cast(tf.sqrt(var), tf.float32),
        "ch_mean": _pad3(tf.cast(mean_c, tf.float32)),
        "ch_std": _pad3(tf.cast(tf.sqrt(var_c), tf.float32)),
        "nonfinite": tf.zeros(tf.shape(x)[:1], tf.int64),
    }


def _stats(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics over the colour channels (alpha excluded), ignoring NaN/Inf."""
    if images.dtype == tf.uint8:
        return _stats_uint8(images)
    x = tf.cast(images[..., :3], tf.float32)
    finite = tf.math.is_finite(x)
    ones = tf.cast(finite, tf.float32)
    x0 = tf.where(finite, x, tf.zeros_like(x))
    n_c = tf.maximum(tf.reduce_sum(ones, axis=[1, 2]), 1.0)
    mean_c = tf.reduce_sum(x0, axis=[1, 2]) / n_c
    var_c = tf.reduce_sum(tf.square(x0 - mean_c[:, None, None, :]) * ones, axis=[1, 2]) / n_c
    n = tf.reduce_sum(n_c, axis=1)
    mean = tf.reduce_sum(mean_c * n_c, axis=1) / n
    var = tf.reduce_sum((var_c + tf.square(mean_c - mean[:, None])) * n_c, axis=1) / n
    per_image = tf.cast(tf.size(x[0]), tf.int64)
    return {
        "min": tf.reduce_min(tf.where(finite, x, np.inf), axis=[1, 2, 3]),
        "max": tf.reduce_max(tf.where(finite, x, -np.inf), axis=[1, 2, 3]),
        "mean": mean,
        "std": tf.sqrt(var),
        "ch_mean": _pad3(mean_c),
        "ch_std": _pad3(tf.sqrt(var_c)),
        "nonfinite": per_image - tf.cast(tf.reduce_sum(ones, axis=[1, 2, 3]), tf.int64),
    }


TEXTURE_SIDE = 128
"""Sharpness and colourfulness are measured on the central TEXTURE_SIDE square (full resolution)."""

_OPPONENT = tf.constant(
    [[[[LUMA[0], 1.0, 0.5], [LUMA[1], -1.0, 0.5], [LUMA[2], 0.0, -1.0]]]], tf.float32
)  # 1x1 conv: RGB -> luma, red-green, yellow-blue
_LAPLACE = tf.constant([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], tf.float32)[:, :, None, None]


def _texture(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Sharpness and colourfulness of a [B, H, W, C] batch, in the images' own value units.

    Sharpness is the standard deviation of the 4-neighbour Laplacian of the
    luma (low for blurred images; NaN below 3x3 pixels). Colourfulness is
    Hasler and Suesstrunk's metric (0 for grayscale). Both come from the
    central TEXTURE_SIDE square at full resolution: blur stays visible and a
    large photo costs no more than a small one. Drift checks divide both by
    each split's value range, so 0-1 and 0-255 splits compare.
    """
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    top, left = tf.maximum((h - TEXTURE_SIDE) // 2, 0), tf.maximum((w - TEXTURE_SIDE) // 2, 0)
    x = tf.cast(images[:, top : top + TEXTURE_SIDE, left : left + TEXTURE_SIDE], tf.float32)
    if images.dtype != tf.uint8:
        x = tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))
    x = tf.cond(
        tf.shape(x)[3] >= 3, lambda: x[..., :3], lambda: tf.tile(x[..., :1], [1, 1, 1, 3])
    )  # gray (+alpha) as R=G=B: colourfulness 0
    opponent = tf.nn.conv2d(x, _OPPONENT, 1, "VALID")
    lap = tf.nn.conv2d(opponent[..., :1], _LAPLACE, 1, "VALID")
    _, lap_var = tf.nn.moments(lap, axes=[1, 2, 3])
    mean, var = tf.nn.moments(opponent[..., 1:], axes=[1, 2])
    spread = tf.sqrt(tf.reduce_sum(var, axis=-1))
    return {
        "sharpness": tf.sqrt(lap_var),
        "colorfulness": spread + 0.3 * tf.sqrt(tf.reduce_sum(tf.square(mean), axis=-1)),
    }


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


def batch_stats(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics, texture, shape and content hash (FEATURE_SPECS) of a [B, H, W, C] batch."""
    shape = tf.shape(images, out_type=tf.int64)
    out = {
        "height": tf.fill([shape[0]], shape[1]),
        "width": tf.fill([shape[0]], shape[2]),
        "channels": tf.fill([shape[0]], shape[3]),
    }
    out.update(_stats(images))
    out.update(_texture(images))
    out["content_hash"] = content_hashes(images)
    return out


def image_features(image: np.ndarray, head: bytes = b"") -> dict[str, np.ndarray]:
    """Every measurement of one HxWxC image, as a batch of one (for images Pillow decoded).

    ``head`` is the start of the encoded file, for its format and orientation.
    """
    out = {k: v.numpy() for k, v in batch_stats(tf.constant(image)[None]).items()}
    thumb, grid = hash_inputs(image)
    codes, orient = batch_header_info(np.array([head], object))
    out.update(thumb=thumb[None], dgrid=grid[None])
    out.update(format=codes, orientation=orient)
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
        "phash": pack_bits(phash_bits(features["thumb"])),
        "dhash": pack_bits(dhash_bits(features["dgrid"])),
        "thumb": features["thumb"].reshape(n, -1),
    }
    for c in range(3):
        cols[f"mean_c{c}"] = features["ch_mean"][:, c].astype(np.float64)
        cols[f"std_c{c}"] = features["ch_std"][:, c].astype(np.float64)
    return cols
