"""The per-image profiling function: one implementation for every driver.

``image_features`` runs inside tf.data (and eagerly on images only Pillow could
read; later also inside Beam). It returns fixed-size tensors so that rows can
be batched whatever the image size. ``finish_batch`` turns a batch of those
into table columns with vectorised NumPy: pHash and dHash follow imagehash's
algorithms (Pillow's integer luma, Lanczos resize, 2-D DCT-II of a 32x32
thumbnail, median of the 8x8 low frequencies; 9x8 row differences).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from audit.hashes import pack_bits
from audit.table import THUMB_SIZE

HASH_SIDE = 8
_LUMA = tf.constant([19595, 38470, 7471], tf.int32)  # Pillow's ITU-R 601-2 weights * 65536
_FIRST = tf.constant([65536, 0, 0], tf.int32)


def _gray(image: tf.Tensor) -> tf.Tensor:
    """Grayscale as Pillow's ``convert("L")`` does it (integer luma for uint8), float32."""
    channels = tf.shape(image)[-1]
    colour = tf.minimum(channels, 3)
    if image.dtype == tf.uint8:
        weights = tf.where(channels >= 3, _LUMA, _FIRST)[:colour]
        x = tf.cast(image[..., :3], tf.int32)
        luma = tf.bitwise.right_shift(tf.reduce_sum(x * weights, axis=-1) + 32768, 16)
        return tf.cast(luma, tf.float32)
    weights = tf.cast(tf.where(channels >= 3, _LUMA, _FIRST), tf.float32)[:colour] / 65536.0
    return tf.reduce_sum(tf.cast(image[..., :3], tf.float32) * weights, axis=-1)


def _to_byte_scale(gray: tf.Tensor, is_uint8: bool) -> tf.Tensor:
    """Gray values on Pillow's 0-255 scale: as they are for uint8, stretched for floats.

    Float images may be 0-1, -1..1 or standardised; stretching each image to
    its own range keeps hashes and thumbnails comparable across those scales.
    """
    if is_uint8:
        return gray
    finite = tf.math.is_finite(gray)
    lo = tf.reduce_min(tf.where(finite, gray, np.inf))
    hi = tf.reduce_max(tf.where(finite, gray, -np.inf))
    span = hi - lo
    scaled = tf.where(span > 0, (gray - lo) / tf.where(span > 0, span, 1.0) * 255.0, 0.0)
    return tf.where(finite, scaled, 0.0)


_PRECISION_BITS = 22  # Pillow's fixed-point precision for 8-bit resampling (32 - 8 - 2)
_SUPPORT = 3.0  # Lanczos-3


def _lanczos(x: tf.Tensor) -> tf.Tensor:
    """Pillow's truncated sinc: sinc(x) * sinc(x / 3) on [-3, 3), else 0."""
    one, zero = tf.ones_like(x), tf.zeros_like(x)
    px = np.pi * x
    sinc = tf.where(x == 0, one, tf.sin(px) / tf.where(x == 0, one, px))
    px3 = px / 3.0
    sinc3 = tf.where(x == 0, one, tf.sin(px3) / tf.where(x == 0, one, px3))
    return tf.where((x >= -_SUPPORT) & (x < _SUPPORT), sinc * sinc3, zero)


def _pil_coefficients(in_size: tf.Tensor, out_size: int) -> tf.Tensor:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` as an (out, in) matrix.

    Each output pixel weighs the input pixels in its window by the Lanczos
    filter scaled to the reduction factor, normalised to sum 1, then rounded to
    22-bit fixed point exactly as Pillow's C code does.
    """
    n_in = tf.cast(in_size, tf.float64)
    scale = n_in / out_size
    filterscale = tf.maximum(scale, 1.0)
    support = _SUPPORT * filterscale
    center = (tf.range(out_size, dtype=tf.float64)[:, None] + 0.5) * scale
    xmin = tf.maximum(tf.floor(center - support + 0.5), 0.0)
    xmax = tf.minimum(tf.floor(center + support + 0.5), n_in)
    j = tf.range(in_size, dtype=tf.float64)[None, :]
    inside = (j >= xmin) & (j < xmax)
    w = _lanczos((j - center + 0.5) / filterscale)
    w = tf.where(inside, w, tf.zeros_like(w))
    total = tf.reduce_sum(w, axis=1, keepdims=True)
    w = tf.where(total != 0, w / tf.where(total != 0, total, tf.ones_like(total)), w)
    fixed = w * float(1 << _PRECISION_BITS)
    return tf.where(fixed < 0, tf.math.ceil(fixed - 0.5), tf.floor(fixed + 0.5))


def _clip8(acc: tf.Tensor) -> tf.Tensor:
    """Pillow's ``clip8``: round the fixed-point sum back to 0..255."""
    return tf.clip_by_value(
        tf.floor((acc + float(1 << (_PRECISION_BITS - 1))) / (1 << _PRECISION_BITS)), 0, 255
    )


def _resize_u8(gray: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Pillow's ``Image.resize(LANCZOS)`` of an 8-bit image, bit for bit.

    Horizontal pass then vertical pass, each rounded to uint8 as Pillow does;
    float64 keeps the fixed-point sums exact (they stay below 2**31). Matching
    Pillow exactly is what makes our pHash/dHash equal imagehash's.
    """
    g = tf.cast(gray, tf.float64)
    size = tf.shape(g)
    g = tf.cond(
        size[1] != width,
        lambda: _clip8(tf.matmul(g, _pil_coefficients(size[1], width), transpose_b=True)),
        lambda: g,
    )
    g = tf.cond(
        size[0] != height,
        lambda: _clip8(tf.matmul(_pil_coefficients(size[0], height), g)),
        lambda: g,
    )
    return tf.cast(tf.ensure_shape(g, [height, width]), tf.uint8)


def _pad3(values: tf.Tensor) -> tf.Tensor:
    """Pad a per-channel vector to three entries with NaN."""
    return tf.concat([values, tf.fill([3 - tf.shape(values)[0]], np.nan)], axis=0)


def _stats(image: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics over the colour channels (alpha excluded), ignoring NaN/Inf."""
    x = tf.cast(image[..., :3], tf.float32)
    finite = tf.math.is_finite(x)
    ones = tf.cast(finite, tf.float32)
    x0 = tf.where(finite, x, 0.0)
    n_c = tf.maximum(tf.reduce_sum(ones, axis=[0, 1]), 1.0)
    mean_c = tf.reduce_sum(x0, axis=[0, 1]) / n_c
    var_c = tf.reduce_sum(tf.square(x0 - mean_c) * ones, axis=[0, 1]) / n_c
    n = tf.reduce_sum(n_c)
    mean = tf.reduce_sum(mean_c * n_c) / n
    var = tf.reduce_sum((var_c + tf.square(mean_c - mean)) * n_c) / n
    return {
        "min": tf.reduce_min(tf.where(finite, x, np.inf)),
        "max": tf.reduce_max(tf.where(finite, x, -np.inf)),
        "mean": mean,
        "std": tf.sqrt(var),
        "ch_mean": _pad3(mean_c),
        "ch_std": _pad3(tf.sqrt(var_c)),
        "nonfinite": tf.size(x, tf.int64) - tf.cast(tf.reduce_sum(ones), tf.int64),
    }


def image_features(image: tf.Tensor) -> dict[str, tf.Tensor]:
    """Fixed-size measurements of one HxWxC image of any numeric dtype."""
    shape = tf.shape(image, out_type=tf.int64)
    gray = tf.round(_to_byte_scale(_gray(image), image.dtype == tf.uint8))
    out = {
        "height": shape[0],
        "width": shape[1],
        "channels": shape[2],
        "thumb": _resize_u8(gray, THUMB_SIZE, THUMB_SIZE),
        "dgrid": _resize_u8(gray, HASH_SIDE, HASH_SIDE + 1),
        "fingerprint": tf.reshape(tf.fingerprint(tf.io.serialize_tensor(image)[None]), [8]),
    }
    out.update(_stats(image))
    return out


def _dct_matrix(n: int) -> np.ndarray:
    """scipy.fftpack's unnormalised DCT-II as a matrix: ``dct(x) == M @ x``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT = _dct_matrix(THUMB_SIZE)


def phash_bits(thumbs: np.ndarray) -> np.ndarray:
    """imagehash.phash bits of (N, 32, 32) uint8 thumbnails, as (N, 64) booleans."""
    coeffs = _DCT @ thumbs.astype(np.float64) @ _DCT.T
    low = coeffs[:, :HASH_SIDE, :HASH_SIDE].reshape(len(thumbs), -1)
    return low > np.median(low, axis=1, keepdims=True)


def dhash_bits(grids: np.ndarray) -> np.ndarray:
    """imagehash.dhash bits of (N, 8, 9) uint8 grids, as (N, 64) booleans."""
    g = grids.astype(np.int16)
    return (g[:, :, 1:] > g[:, :, :-1]).reshape(len(grids), -1)


def finish_batch(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Table columns from a batch of ``image_features`` outputs."""
    n = len(features["height"])
    fp = np.ascontiguousarray(features["fingerprint"], dtype=np.uint8)
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
        "content_hash": fp.view("<u8").reshape(n).astype(np.uint64),
        "phash": pack_bits(phash_bits(features["thumb"])),
        "dhash": pack_bits(dhash_bits(features["dgrid"])),
        "thumb": [t.tobytes() for t in features["thumb"]],
    }
    for c in range(3):
        cols[f"mean_c{c}"] = features["ch_mean"][:, c].astype(np.float64)
        cols[f"std_c{c}"] = features["ch_std"][:, c].astype(np.float64)
    return cols
