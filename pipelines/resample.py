"""Pillow's LANCZOS resize of 8-bit grayscale images, compiled, for a whole batch at once.

imagehash feeds pHash and dHash with ``Image.resize(..., LANCZOS)`` on the
``convert("L")`` image, so our hashes must come from exactly those pixels.
Pillow converts and resizes one image per call, with two copies of the image
as Python objects; ``resize_batch`` converts and resizes every image of a
padded batch in one compiled call, without the GIL and bit-identical
(``benchmarks/resample_speed.py``).

Pillow (``libImaging/Resample.c``) computes, per output pixel, Lanczos-3
weights over a support widened by the downscale factor, normalises them,
rounds them to 22-bit fixed point, and resizes horizontally first, then
vertically, rounding and clipping to 0-255 after each pass. The kernels do
the same integer arithmetic over the same taps; its ``convert("L")`` is the
integer ITU-R 601 luma of ``libImaging/Convert.c``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from audit.jit import kernel

PRECISION_BITS = 22
"""Pillow's fixed-point precision for 8-bit resampling (32 - 8 - 2)."""

_HALF = 1 << (PRECISION_BITS - 1)
_SUPPORT = 3.0  # Lanczos-3

Taps = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One axis of a resize: first input index (out,), tap count (out,), weights (out, max count)."""


def _sinc(x: float) -> float:
    """sin(pi x) / (pi x), 1 at 0: Pillow's ``sinc_filter``."""
    if x == 0.0:
        return 1.0
    x *= math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    """Pillow's ``lanczos_filter``: the sinc windowed by a 3-lobe sinc, 0 outside [-3, 3)."""
    return _sinc(x) * _sinc(x / 3.0) if -_SUPPORT <= x < _SUPPORT else 0.0


def _fixed(weight: float) -> int:
    """A normalised weight in Pillow's 22-bit fixed point (``normalize_coeffs_8bpc``)."""
    scaled = weight * (1 << PRECISION_BITS)
    return int(scaled - 0.5) if weight < 0 else int(scaled + 0.5)


@functools.cache
def lanczos_taps(in_size: int, out_size: int) -> Taps:
    """The fixed-point taps of Pillow's ``precompute_coeffs`` for one axis, once per size pair.

    Scalar ``math`` arithmetic in Pillow's order, so every weight equals
    Pillow's. Rows past an output's tap count are 0.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    first, count, rows = np.zeros(out_size, np.int64), np.zeros(out_size, np.int64), []
    for out in range(out_size):
        center = (out + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        n = min(int(center + support + 0.5), in_size) - lo
        weights = [_lanczos((x + lo - center + 0.5) / filterscale) for x in range(n)]
        total = 0.0
        for w in weights:
            total += w
        rows.append([_fixed(w / total if total != 0.0 else w) for w in weights])
        first[out], count[out] = lo, n
    # int32 as in Pillow: 8-bit values times 22-bit weights summing to one fit in 32 bits
    weights = np.zeros((out_size, max(count.max(), 1)), np.int32)
    for out, row in enumerate(rows):
        weights[out, : len(row)] = row
    return first, count, weights


@kernel
def _resample(src: np.ndarray, taps: Taps, out: np.ndarray) -> None:
    """One LANCZOS pass along the first axis: ``out[o] = clip8(sum_k w[o, k] src[first[o] + k])``.

    Each output line is a weighted sum of whole input lines, so the inner
    loop runs along contiguous memory across all lines at once (SIMD);
    the horizontal pass therefore works on the transposed image. Integer
    sums as in Pillow, which cannot overflow 32 bits (8-bit values, weights
    of 22 bits summing to one).
    """
    first, count, weights = taps
    total = np.empty(src.shape[1], np.int32)
    for o in range(out.shape[0]):
        total[:] = _HALF
        for k in range(count[o]):
            weight, line = weights[o, k], src[first[o] + k]
            for x in range(len(total)):
                total[x] += np.int32(line[x]) * weight
        for x in range(len(total)):
            out[o, x] = min(max(total[x] >> PRECISION_BITS, 0), 255)


@kernel
def _transpose(src: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = src.T``, eight rows at a time (a strided write per value is 2.5x slower)."""
    h, w = src.shape
    full = h - h % 8
    for y in range(0, full, 8):
        for x in range(w):
            for k in range(8):
                out[x, y + k] = src[y + k, x]
    for y in range(full, h):
        for x in range(w):
            out[x, y] = src[y, x]


@kernel
def _resize(
    gray: np.ndarray, transposed: np.ndarray, across: Taps, down: Taps, bufs: tuple, out: np.ndarray
) -> None:
    """Pillow's LANCZOS resize of one (h, w) image into ``out``: across, then down.

    ``transposed`` is ``gray.T`` (for the horizontal pass). A dimension that
    keeps its size is not resampled, as in Pillow. ``bufs`` (``_buffers``)
    hold the passes.
    """
    h, w = gray.shape
    height, width = out.shape
    across_t, mid = bufs
    if width != w:
        _resample(transposed, across, across_t)
        _transpose(across_t, mid)
    else:
        _copy(gray, mid)
    if height != h:
        _resample(mid, down, out)
    else:
        _copy(mid, out)


@kernel
def _copy(src: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = src`` for 2-D arrays of one shape (a loop compiles in a tenth of the time)."""
    for y in range(src.shape[0]):
        for x in range(src.shape[1]):
            out[y, x] = src[y, x]


@kernel
def _buffers(h: int, width: int) -> tuple:
    """Scratch for ``_resize`` of images h high to ``width``: (width, h) and (h, width)."""
    return np.empty((width, h), np.uint8), np.empty((h, width), np.uint8)


@kernel
def _gray(row: np.ndarray, c: int, gray: np.ndarray) -> None:
    """Pillow's ``convert("L")`` of one uint8 image (``row``, C order) into ``gray`` (h, w).

    RGB(A): the integer luma ``(19595 R + 38470 G + 7471 B + 2**15) >> 16``;
    gray and gray+alpha: the first channel. One loop per channel count, so
    that each loop's stride is a constant (SIMD).
    """
    h, w = gray.shape
    for y in range(h):
        if c == 3:
            for x in range(w):
                q = (y * w + x) * 3
                gray[y, x] = _luma(row[q], row[q + 1], row[q + 2])
        elif c == 4:
            for x in range(w):
                q = (y * w + x) * 4
                gray[y, x] = _luma(row[q], row[q + 1], row[q + 2])
        elif c == 1:
            for x in range(w):
                gray[y, x] = row[y * w + x]
        else:
            for x in range(w):
                gray[y, x] = row[(y * w + x) * c]


@kernel
def _luma(r: np.uint8, g: np.uint8, b: np.uint8) -> np.uint8:
    """Pillow's ``L24`` luma of one pixel."""
    total = 19595 * np.int32(r) + 38470 * np.int32(g) + 7471 * np.int32(b) + 32768
    return np.uint8(total >> 16)


@kernel
def resize_batch(
    flat: np.ndarray,
    rows: np.ndarray,
    shape: np.ndarray,
    thumb: tuple[Taps, Taps],
    grid: tuple[Taps, Taps],
    thumbs: np.ndarray,
    grids: np.ndarray,
) -> None:
    """Thumbnail and dHash grid of the uint8 images ``flat[rows]``, all of one ``shape`` (H, W, C).

    ``thumb`` and ``grid`` are the (across, down) taps from ``lanczos_taps``
    for the sizes of ``thumbs`` and ``grids``; row ``i`` of the outputs
    belongs to ``flat[i]``.
    """
    h, w, c = shape[0], shape[1], shape[2]
    gray, transposed = np.empty((h, w), np.uint8), np.empty((w, h), np.uint8)
    thumb_bufs, grid_bufs = _buffers(h, thumbs.shape[2]), _buffers(h, grids.shape[2])
    for i in rows:
        _gray(flat[i], c, gray)
        _transpose(gray, transposed)
        _resize(gray, transposed, thumb[0], thumb[1], thumb_bufs, thumbs[i])
        _resize(gray, transposed, grid[0], grid[1], grid_bufs, grids[i])


def resize_gray(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (N, H, W) uint8 images to (N, height, width) exactly as Pillow's LANCZOS does."""
    n, h, w = images.shape
    out = np.empty((n, height, width), np.uint8)
    across, down = lanczos_taps(w, width), lanczos_taps(h, height)
    bufs, transposed = _buffers(h, width), np.empty((w, h), np.uint8)
    for image, resized in zip(images, out, strict=True):
        gray = np.ascontiguousarray(image)
        _transpose(gray, transposed)
        _resize(gray, transposed, across, down, bufs, resized)
    return out
