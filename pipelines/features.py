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
    """Grayscale as Pillow's ``convert("L")`` does it (integer luma for uint8), float32.

    For uint8 the weighted sum is at most 255 * 65536 + 32768 < 2**24, so the
    float32 dot product and floor division are exact: bit-equal to Pillow.
    """
    channels = tf.shape(image)[-1]
    colour = tf.minimum(channels, 3)
    weights = tf.cast(tf.where(channels >= 3, _LUMA, _FIRST)[:colour], tf.float32)
    x = tf.cast(image[..., :3], tf.float32)
    if image.dtype == tf.uint8:
        return tf.floor((tf.tensordot(x, weights, 1) + 32768.0) / 65536.0)
    return tf.tensordot(x, weights / 65536.0, 1)


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


def _pil_coefficients(in_sizes: tf.Tensor, out_sizes: tuple[int, ...]) -> tf.Tensor:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for several resizes at once.

    Row block ``k`` holds the (out_sizes[k], max(in_sizes)) matrix resizing an
    axis of length ``in_sizes[k]`` to ``out_sizes[k]``: each output pixel weighs
    the input pixels in its window by the Lanczos filter scaled to the
    reduction factor, normalised to sum 1, then rounded to 22-bit fixed point
    exactly as Pillow's C code does. One vectorised pass keeps the op count
    (tf.data's per-image overhead) small.
    """
    n_in = tf.cast(tf.repeat(in_sizes, out_sizes), tf.float64)[:, None]
    out = tf.constant(np.repeat(out_sizes, out_sizes), tf.float64)[:, None]
    xx = tf.constant(np.concatenate([np.arange(n) for n in out_sizes]), tf.float64)[:, None]
    scale = n_in / out
    filterscale = tf.maximum(scale, 1.0)
    support = _SUPPORT * filterscale
    center = (xx + 0.5) * scale
    xmin = tf.maximum(tf.floor(center - support + 0.5), 0.0)
    xmax = tf.minimum(tf.floor(center + support + 0.5), n_in)
    j = tf.range(tf.reduce_max(in_sizes), dtype=tf.float64)[None, :]
    w = _lanczos((j - center + 0.5) / filterscale)
    w = tf.where((j >= xmin) & (j < xmax), w, tf.zeros_like(w))
    total = tf.reduce_sum(w, axis=1, keepdims=True)
    w = tf.where(total != 0, w / tf.where(total != 0, total, tf.ones_like(total)), w)
    fixed = w * float(1 << _PRECISION_BITS)
    return tf.where(fixed < 0, tf.math.ceil(fixed - 0.5), tf.floor(fixed + 0.5))


def _clip8(acc: tf.Tensor) -> tf.Tensor:
    """Pillow's ``clip8``: round the fixed-point sum back to 0..255."""
    half, one = float(1 << (_PRECISION_BITS - 1)), float(1 << _PRECISION_BITS)
    return tf.clip_by_value(tf.floor((acc + half) / one), 0, 255)


def _pass(g: tf.Tensor, coeffs: tf.Tensor, size: tf.Tensor, out_size: int, axis: int) -> tf.Tensor:
    """One Pillow resample pass along ``axis``, skipped when the size already matches."""
    if axis == 1:
        return tf.cond(size != out_size, lambda: _clip8(tf.matmul(g, coeffs, transpose_b=True)),
                       lambda: g)
    return tf.cond(size != out_size, lambda: _clip8(tf.matmul(coeffs, g)), lambda: g)


def _thumb_and_grid(gray: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Pillow's ``Image.resize(LANCZOS)`` of an 8-bit image to the thumbnail and the dHash grid.

    Bit for bit: horizontal pass then vertical pass, each rounded to uint8 as
    Pillow does; float64 keeps the fixed-point sums exact (below 2**31).
    Matching Pillow exactly is what makes our pHash/dHash equal imagehash's.
    """
    g = tf.cast(gray, tf.float64)
    height, width = tf.shape(g)[0], tf.shape(g)[1]
    t, d = THUMB_SIZE, HASH_SIDE
    sizes = tf.stack([width, width, height, height])
    coeffs = _pil_coefficients(sizes, (t, d + 1, t, d))
    cw_t, cw_d = coeffs[:t, :width], coeffs[t : t + d + 1, :width]
    ch_t, ch_d = coeffs[t + d + 1 : 2 * t + d + 1, :height], coeffs[2 * t + d + 1 :, :height]
    thumb = _pass(_pass(g, cw_t, width, t, 1), ch_t, height, t, 0)
    grid = _pass(_pass(g, cw_d, width, d + 1, 1), ch_d, height, d, 0)
    return (tf.cast(tf.ensure_shape(thumb, [t, t]), tf.uint8),
            tf.cast(tf.ensure_shape(grid, [d, d + 1]), tf.uint8))


def _pad3(values: tf.Tensor) -> tf.Tensor:
    """Pad a per-channel vector to three entries with NaN."""
    return tf.concat([values, tf.fill([3 - tf.shape(values)[0]], np.nan)], axis=0)


def _stats_uint8(image: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics of an 8-bit image from exact integer sums (no NaN possible)."""
    x = tf.cast(image[..., :3], tf.int64)
    hw = tf.cast(tf.shape(x)[0] * tf.shape(x)[1], tf.float64)
    s1 = tf.cast(tf.reduce_sum(x, axis=[0, 1]), tf.float64)
    s2 = tf.cast(tf.reduce_sum(x * x, axis=[0, 1]), tf.float64)
    mean_c = s1 / hw
    var_c = tf.maximum(s2 / hw - tf.square(mean_c), 0.0)
    n = hw * tf.cast(tf.shape(s1)[0], tf.float64)
    mean = tf.reduce_sum(s1) / n
    var = tf.maximum(tf.reduce_sum(s2) / n - tf.square(mean), 0.0)
    colour = image[..., :3]
    return {
        "min": tf.cast(tf.reduce_min(colour), tf.float32),
        "max": tf.cast(tf.reduce_max(colour), tf.float32),
        "mean": tf.cast(mean, tf.float32),
        "std": tf.cast(tf.sqrt(var), tf.float32),
        "ch_mean": _pad3(tf.cast(mean_c, tf.float32)),
        "ch_std": _pad3(tf.cast(tf.sqrt(var_c), tf.float32)),
        "nonfinite": tf.constant(0, tf.int64),
    }


def _stats(image: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics over the colour channels (alpha excluded), ignoring NaN/Inf."""
    if image.dtype == tf.uint8:
        return _stats_uint8(image)
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
    thumb, grid = _thumb_and_grid(gray)
    out = {
        "height": shape[0],
        "width": shape[1],
        "channels": shape[2],
        "thumb": thumb,
        "dgrid": grid,
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
