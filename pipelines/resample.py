"""Pillow's LANCZOS resize of 8-bit grayscale images, for a whole batch at once.

imagehash feeds pHash and dHash with ``Image.resize(..., LANCZOS)`` on the
``convert("L")`` image, so our hashes must come from exactly those pixels.
Pillow resizes one image per call; a batch of same-size images can instead be
resized with two matrix products, 2-5x faster on one core
(``benchmarks/resample_speed.py``) and bit-identical.

Pillow (``libImaging/Resample.c``) computes, per output pixel, Lanczos-3
weights over a support widened by the downscale factor, normalises them,
rounds them to 22-bit fixed point, and resizes horizontally first, then
vertically, rounding and clipping to 0-255 after each pass. The same integer
arithmetic is exact in float64 (every partial sum is an integer below 2**40),
so ``resize_gray`` reproduces it with BLAS matrix products.
"""

from __future__ import annotations

import functools
import math

import numpy as np

PRECISION_BITS = 22
"""Pillow's fixed-point precision for 8-bit resampling (32 - 8 - 2)."""

_HALF = float(1 << (PRECISION_BITS - 1))
_ONE = float(1 << PRECISION_BITS)
_SUPPORT = 3.0  # Lanczos-3


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
def lanczos_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) fixed-point weight matrix of Pillow's ``precompute_coeffs``.

    Scalar ``math`` arithmetic in Pillow's order, so every weight equals
    Pillow's; computed once per pair of sizes.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    matrix = np.zeros((out_size, in_size))
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - first
        weights = [_lanczos((x + first - center + 0.5) / filterscale) for x in range(count)]
        total = 0.0
        for w in weights:
            total += w
        for x, w in enumerate(weights):
            matrix[out, first + x] = _fixed(w / total if total != 0.0 else w)
    return matrix


def _clip8(sums: np.ndarray) -> np.ndarray:
    """Pillow's ``clip8``: fixed-point sums (rounding offset included) to 0-255, in place.

    ``_ONE`` is a power of two, so multiplying by its inverse is exact: the
    same result as dividing, without the temporaries (a tenth of a digit
    profile went into this function when it allocated three).
    """
    np.multiply(sums, 1.0 / _ONE, out=sums)
    np.floor(sums, out=sums)
    return np.clip(sums, 0.0, 255.0, out=sums)


CHUNK_VALUES = 1 << 19
"""Images are resized in chunks of at most this many pixels (4 MiB as float64): a chunk
this size is reused from the heap, while one float64 copy of a whole batch of photos
(over 100 MiB) costs more in fresh pages than the arithmetic."""


def resize_gray(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (N, H, W) uint8 images to (N, height, width) exactly as Pillow's LANCZOS does.

    A dimension that keeps its size is not resampled, as in Pillow.
    """
    n, h, w = images.shape
    out = np.empty((n, height, width), np.uint8)
    step = max(1, CHUNK_VALUES // max(h * w, 1))
    for start in range(0, n, step):
        out[start : start + step] = _resize_chunk(images[start : start + step], width, height)
    return out


def _resize_chunk(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """``resize_gray`` of one chunk: the horizontal pass, then the vertical one."""
    x = images.astype(np.float64)
    n, h, w = x.shape
    if width != w:
        x = _clip8(x.reshape(n * h, w) @ lanczos_matrix(w, width).T + _HALF).reshape(n, h, width)
    if height != h:
        columns = x.transpose(1, 0, 2).reshape(h, n * width)  # one matrix product per chunk
        x = _clip8(lanczos_matrix(h, height) @ columns + _HALF).reshape(height, n, width)
        x = x.transpose(1, 0, 2)
    return x
