"""The thumbnail verification's inner loop, compiled (numba) pair by pair.

``audit.similarity`` confirms every hash candidate on the 32x32 uint8
thumbnails: the Pearson correlation of the overlap, maximised over small
shifts. In NumPy that gathers both thumbnails of every pair, converts them
to float32 and makes several passes per shift; on 5,000 digits (86,000
candidates) it was a fifth of the leakage check. Here a pair's shift is one
pass of integer sums straight from the thumbnail arrays, with no gathered
copies. The sums are exact (int64), so the kernel is the float32 NumPy
statement (``similarity.numpy_pair_similarity``, its oracle in the tests
and its peer in ``benchmarks/verification_speed.py``) to about 1e-7.
"""

from __future__ import annotations

import math

import numpy as np

from audit.jit import kernel


@kernel
def _shifted(a: np.ndarray, b: np.ndarray, mirrored: bool, dy: int, dx: int) -> float:
    """Correlation of ``a`` with ``b`` (flipped left to right if ``mirrored``) moved by (dy, dx).

    Over the overlap only; two constant overlaps score 1 when their levels
    differ by less than 2 (a blank re-encoded), one constant overlap 0.
    """
    size = a.shape[0]
    ya, yb, xa, xb = max(dy, 0), max(-dy, 0), max(dx, 0), max(-dx, 0)
    h, w = size - abs(dy), size - abs(dx)
    step = -1 if mirrored else 1
    start = size - 1 - xb if mirrored else xb
    sa = sb = saa = sbb = sab = 0
    for y in range(h):
        for x in range(w):
            u = np.int64(a[ya + y, xa + x])
            v = np.int64(b[yb + y, start + step * x])
            sa += u
            sb += v
            saa += u * u
            sbb += v * v
            sab += u * v
    n = h * w
    var_a, var_b = n * saa - sa * sa, n * sbb - sb * sb
    if var_a == 0 or var_b == 0:
        return 1.0 if var_a == 0 and var_b == 0 and abs(sa - sb) < 2 * n else 0.0
    return (n * sab - sa * sb) / math.sqrt(float(var_a) * float(var_b))


@kernel
def pair_similarity(
    a: np.ndarray,
    b: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    mirrored: np.ndarray,
    max_shift: int,
    floor: float,
) -> np.ndarray:
    """Best shifted correlation of each pair (``a[i[k]]``, ``b[j[k]]``), uint8 (n, s, s) stacks.

    Pairs whose unshifted correlation is below ``floor`` keep it and skip
    the (2 * max_shift + 1) ** 2 shifts.
    """
    out = np.empty(len(i))
    for k in range(len(i)):
        x, y, flip = a[i[k]], b[j[k]], mirrored[k]
        best = _shifted(x, y, flip, 0, 0)
        if best >= floor:
            for dy in range(-max_shift, max_shift + 1):
                for dx in range(-max_shift, max_shift + 1):
                    if dy != 0 or dx != 0:
                        best = max(best, _shifted(x, y, flip, dy, dx))
        out[k] = best
    return out
