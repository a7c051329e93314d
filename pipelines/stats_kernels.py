"""The profile's value statistics and texture measures, compiled (numba), one image at a time.

Written with TensorFlow ops over a batch, these were half of a photo
profile's time: every reduction made a full-size temporary (an int32 copy of
256 photos and its square, float32 copies for the convolutions), 0.23 s of
CPU per batch of 256 photos of 256x256. Here one pass per image reads each
value once and keeps only sums, without temporaries and without the GIL
(``benchmarks/stats_speed.py``).

Every kernel reads a padded batch: row ``i`` of ``flat`` holds image ``i``,
of shape ``shapes[i]`` (H, W, C) in C order, followed by padding, so images
of different shapes take the same call. ``measure`` fills one row of the
output arrays per image; ``pipelines.features.batch_stats`` wraps it.
"""

from __future__ import annotations

import math

import numpy as np

from audit.jit import kernel, summing_kernel

TEXTURE_SIDE = 128
"""Sharpness and colourfulness are measured on the central TEXTURE_SIDE square (full resolution)."""

LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601 luma weights, as Pillow's ``convert("L")`` uses."""


@kernel
def _colours(c: int) -> int:
    """How many of an image's ``c`` channels are colour: 3 for RGB(A), 1 for gray and gray+alpha."""
    return 3 if c >= 3 else 1


@kernel
def _colour(row: np.ndarray, p: int, c: int) -> tuple[float, float, float]:
    """R, G, B of the pixel whose first value is at ``row[p]``; gray is R=G=B, NaN/Inf are 0."""
    r = float(row[p])
    g = float(row[p + 1]) if c >= 3 else r
    b = float(row[p + 2]) if c >= 3 else r
    r = r if math.isfinite(r) else 0.0
    g = g if math.isfinite(g) else 0.0
    b = b if math.isfinite(b) else 0.0
    return r, g, b


@summing_kernel
def _texture(row: np.ndarray, h: int, w: int, c: int, buf: np.ndarray) -> tuple[float, float]:
    """Sharpness and colourfulness of one image's central square (``features.batch_stats``).

    Sharpness: the standard deviation of the 4-neighbour Laplacian of the
    luma, NaN below 3x3 pixels. Colourfulness: Hasler and Suesstrunk's
    metric over the red-green and yellow-blue opponents (0 for gray).
    Float64 throughout; the opponents' means first, then their squared
    deviations (two passes); ``buf`` holds the square's luma and opponents
    (3 x TEXTURE_SIDE**2).
    """
    top, left = max((h - TEXTURE_SIDE) // 2, 0), max((w - TEXTURE_SIDE) // 2, 0)
    ch, cw = min(h - top, TEXTURE_SIDE), min(w - left, TEXTURE_SIDE)
    n = ch * cw
    luma, rg, yb = buf[0], buf[1], buf[2]
    for y in range(ch):
        for x in range(cw):
            r, g, b = _colour(row, ((top + y) * w + left + x) * c, c)
            k = y * cw + x
            luma[k] = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
            rg[k], yb[k] = r - g, 0.5 * r + 0.5 * g - b
    m_rg, m_yb = _mean(rg, n), _mean(yb, n)
    v_rg, v_yb = _deviance(rg, n, m_rg) / n, _deviance(yb, n, m_yb) / n
    colourfulness = math.sqrt(v_rg + v_yb) + 0.3 * math.sqrt(m_rg**2 + m_yb**2)
    if ch < 3 or cw < 3:
        return math.nan, colourfulness
    return _laplace_std(luma, ch, cw), colourfulness


@summing_kernel
def _mean(values: np.ndarray, n: int) -> float:
    """Mean of ``values[:n]``."""
    total = 0.0
    for k in range(n):
        total += values[k]
    return total / n


@summing_kernel
def _deviance(values: np.ndarray, n: int, mean: float) -> float:
    """Sum of squared deviations of ``values[:n]`` from ``mean``."""
    total = 0.0
    for k in range(n):
        total += (values[k] - mean) ** 2
    return total


@summing_kernel
def _laplace_std(luma: np.ndarray, h: int, w: int) -> float:
    """Standard deviation of the 4-neighbour Laplacian over the inner pixels of an (h, w) image.

    One pass of sums and sums of squares: the Laplacian's weights sum to
    zero, so its mean is small against its spread and the shortcut loses
    nothing that a second pass (half the texture's time) would keep.
    """
    total = squares = 0.0
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            k = y * w + x
            lap = 4.0 * luma[k] - luma[k - 1] - luma[k + 1] - luma[k - w] - luma[k + w]
            total += lap
            squares += lap * lap
    n = (h - 2) * (w - 2)
    mean = total / n
    return math.sqrt(max(squares / n - mean * mean, 0.0))


@kernel
def _range_uint8(row: np.ndarray, pixels: int, c: int) -> tuple[int, int]:
    """Min and max of an 8-bit image's colour channels (a contiguous run when all are colour)."""
    lo, hi = np.uint8(255), np.uint8(0)
    if c in (1, 3):
        for p in range(pixels * c):
            lo, hi = min(lo, row[p]), max(hi, row[p])
        return int(lo), int(hi)
    for p in range(0, pixels * c, c):
        for k in range(_colours(c)):
            lo, hi = min(lo, row[p + k]), max(hi, row[p + k])
    return int(lo), int(hi)


@kernel
def _sums_uint8(row: np.ndarray, pixels: int, c: int, s1: np.ndarray, s2: np.ndarray) -> None:
    """Exact per-channel sums and sums of squares of an 8-bit image's colour channels.

    One pass over the pixels with the channels' accumulators in registers;
    one loop per channel count, so that its stride is a constant (SIMD; a
    stride known only at run time made RGB photos 1.4x slower).
    """
    if c == 1:
        _sums_gray(row, pixels, 1, s1, s2)
    elif c == 2:
        _sums_gray(row, pixels, 2, s1, s2)
    elif c == 3:
        _sums_colour(row, pixels, 3, s1, s2)
    else:
        _sums_colour(row, pixels, 4, s1, s2)


@kernel
def _sums_gray(row: np.ndarray, pixels: int, stride: int, s1: np.ndarray, s2: np.ndarray) -> None:
    """``_sums_uint8`` of the first channel of every ``stride`` values (inlined per stride)."""
    t1 = t2 = 0
    for p in range(pixels):
        v = np.int64(row[stride * p])
        t1, t2 = t1 + v, t2 + v * v
    s1[0], s2[0] = t1, t2


@kernel
def _sums_colour(row: np.ndarray, pixels: int, stride: int, s1: np.ndarray, s2: np.ndarray) -> None:
    """``_sums_uint8`` of the first three channels of every ``stride`` values."""
    r1 = r2 = g1 = g2 = b1 = b2 = 0
    for p in range(pixels):
        q = stride * p
        r, g, b = np.int64(row[q]), np.int64(row[q + 1]), np.int64(row[q + 2])
        r1, r2, g1, g2, b1, b2 = r1 + r, r2 + r * r, g1 + g, g2 + g * g, b1 + b, b2 + b * b
    s1[0], s1[1], s1[2] = r1, g1, b1
    s2[0], s2[1], s2[2] = r2, g2, b2


@kernel
def _stats_uint8(row: np.ndarray, h: int, w: int, c: int, out: np.ndarray) -> None:
    """min, max, mean, std, three channel means, three channel stds of an 8-bit image.

    Exact integer sums, then float64 as ``features`` documents; channels
    past the image's own (gray) are NaN.
    """
    s1, s2 = np.zeros(3, np.int64), np.zeros(3, np.int64)
    _sums_uint8(row, h * w, c, s1, s2)
    lo, hi = _range_uint8(row, h * w, c)
    colour, hw = _colours(c), float(h * w)
    out[:] = np.nan
    out[0], out[1] = lo, hi
    t1 = t2 = 0.0
    for k in range(colour):
        mean_c = s1[k] / hw
        out[4 + k] = mean_c
        out[7 + k] = math.sqrt(max(s2[k] / hw - mean_c * mean_c, 0.0))
        t1 += s1[k]
        t2 += s2[k]
    mean = t1 / (hw * colour)
    out[2] = mean
    out[3] = math.sqrt(max(t2 / (hw * colour) - mean * mean, 0.0))


@summing_kernel
def _stats_float(row: np.ndarray, h: int, w: int, c: int, out: np.ndarray) -> int:
    """The same figures for a float image, over its finite values; returns the non-finite count.

    Per-channel means first, then squared deviations (two passes, float64);
    the overall variance combines the channels' (within plus between).
    """
    colour, pixels = _colours(c), h * w
    n_c, s_c = np.zeros(3), np.zeros(3)
    lo, hi = math.inf, -math.inf
    for k in range(colour):
        for p in range(k, pixels * c, c):
            v = float(row[p])
            if math.isfinite(v):
                n_c[k] += 1.0
                s_c[k] += v
                lo, hi = min(lo, v), max(hi, v)
    finite = int(n_c.sum())
    out[:] = np.nan
    out[0], out[1] = lo, hi
    n = total = 0.0
    for k in range(colour):
        n_c[k] = max(n_c[k], 1.0)  # a channel without finite values: mean 0, as before
        out[4 + k] = s_c[k] / n_c[k]
        n += n_c[k]
        total += s_c[k]
    out[2] = mean = total / n
    var = 0.0
    for k in range(colour):
        dev = 0.0
        for p in range(k, pixels * c, c):
            v = float(row[p])
            if math.isfinite(v):
                dev += (v - out[4 + k]) ** 2
        var_c = dev / n_c[k]
        out[7 + k] = math.sqrt(var_c)
        var += (var_c + (out[4 + k] - mean) ** 2) * n_c[k]
    out[3] = math.sqrt(var / n)
    return pixels * colour - finite


VALUES = (
    "min", "max", "mean", "std", "mean_c0", "mean_c1", "mean_c2",
    "std_c0", "std_c1", "std_c2", "sharpness", "colorfulness",
)  # fmt: skip
"""The columns of ``measure``'s ``values``, in order."""


@kernel
def measure(
    flat: np.ndarray, shapes: np.ndarray, exact: bool, values: np.ndarray, nonfinite: np.ndarray
) -> None:
    """Fill ``values[i]`` (``VALUES``) and ``nonfinite[i]`` for every image ``i`` of a padded batch.

    ``exact``: the batch is uint8 (integer sums); else float32, finite values only.
    An image without pixels gets NaN.
    """
    buf = np.empty((3, TEXTURE_SIDE * TEXTURE_SIDE))
    for i in range(flat.shape[0]):
        h, w, c = shapes[i, 0], shapes[i, 1], shapes[i, 2]
        nonfinite[i] = 0
        if h * w * c == 0:
            values[i] = np.nan
            continue
        if exact:
            _stats_uint8(flat[i], h, w, c, values[i])
        else:
            nonfinite[i] = _stats_float(flat[i], h, w, c, values[i])
        values[i, 10], values[i, 11] = _texture(flat[i], h, w, c, buf)
