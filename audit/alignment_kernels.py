"""The thumbnail alignment's inner loops, compiled (numba) pair by pair.

``audit.alignment`` fits a similarity transform per candidate pair and
scores it. Written with NumPy, one Gauss-Newton step makes about thirty
passes over (pairs, pixels, 4) temporaries; it was two thirds of the
geometric search's time. Here a step of one pair is a warp and one pass of
sums (float64) over its pixels, and ``correlations`` warps and correlates
without (pairs, pixels) arrays. ``alignment.numpy_step`` states the same
step in NumPy: the kernel's oracle in the tests and its peer in
``benchmarks/alignment_speed.py``.

Parameters are ``a, b, tx, ty`` as in ``alignment.warp_coords``; the update
warps ``a`` onto ``b`` (Lucas-Kanade, forward additive) with a per-pair gain
and offset, a mask of inner pixels that the warp reaches, and a 1e-3 ridge.
"""

from __future__ import annotations

import math

import numpy as np

from audit.jit import kernel

RIDGE = 1e-3
"""Added to the normal equations' diagonal (keeps flat pairs solvable)."""


@kernel
def _box(size: int, edge: float) -> tuple[int, int]:
    """First and last row (and column) that a masked pass reads.

    Those are the pixels within ``edge`` of the centre, and one more on each
    side for the gradient: 26 of 32 rows at the default border.
    """
    c = (size - 1) / 2.0
    return max(math.floor(c - edge), 0), min(math.ceil(c + edge), size - 1)


@kernel
def _warp(
    image: np.ndarray,
    p: np.ndarray,
    size: int,
    edge: float,
    box: tuple[int, int],
    warped: np.ndarray,
    m: np.ndarray,
) -> None:
    """Bilinear samples of ``image`` warped by ``p`` into ``warped``, and the mask ``m``.

    Only the rows and columns of ``box`` are sampled (the rest is not read).
    The mask holds the pixels the warp reaches within ``edge`` of the centre.
    """
    c = (size - 1) / 2.0
    for r in range(box[0], box[1] + 1):
        uy = r - c
        for col in range(box[0], box[1] + 1):
            ux = col - c
            ys = p[1] * ux + (1 + p[0]) * uy + c + p[3]
            xs = (1 + p[0]) * ux - p[1] * uy + c + p[2]
            inside = ys >= 0 and ys <= size - 1 and xs >= 0 and xs <= size - 1
            ys = min(max(ys, 0.0), size - 1.001)
            xs = min(max(xs, 0.0), size - 1.001)
            y0, x0 = int(ys), int(xs)
            fy, fx = ys - y0, xs - x0
            k = y0 * size + x0
            top = image[k] + (image[k + 1] - image[k]) * fx
            bottom = image[k + size] + (image[k + size + 1] - image[k + size]) * fx
            at = r * size + col
            warped[at] = top + (bottom - top) * fy
            keep = inside and abs(uy) < edge and abs(ux) < edge
            m[at] = 1.0 if keep else 0.0


@kernel
def _difference(f: np.ndarray, at: int, k: int, n: int, stride: int) -> float:
    """``np.gradient`` of flat ``f`` at ``at``: position ``k`` of ``n`` along ``stride``."""
    if k == 0:
        return f[at + stride] - f[at]
    if k == n - 1:
        return f[at] - f[at - stride]
    return (f[at + stride] - f[at - stride]) / 2


@kernel
def _moments(
    warped: np.ndarray, target: np.ndarray, m: np.ndarray, size: int, box: tuple[int, int]
) -> np.ndarray:
    """Sums over the mask of v v' for v = (Jacobian row, warped, target, 1), one pass.

    The Jacobian row is the warped image's gradient (as ``np.gradient``)
    times the similarity warp's derivative at the pixel. Everything the step
    needs (means, gain, J'J, J'r, all centred) follows from these sums;
    float64 keeps the centring exact enough (values up to ~1e10, eps 2e-16).
    The 27 sums are scalars, which stay in registers (in a 7x7 array, every
    product was a load and a store: the step took 1.6x as long).
    Returned as the lower triangle of a 7x7 array, index 6 being the 1.
    """
    c = (size - 1) / 2.0
    s00 = s10 = s11 = s20 = s21 = s22 = s30 = s31 = s32 = s33 = 0.0
    s40 = s41 = s42 = s43 = s44 = s50 = s51 = s52 = s53 = s54 = s55 = 0.0
    s0 = s1 = s2 = s3 = s4 = s5 = count = 0.0
    for r in range(box[0], box[1] + 1):
        uy = r - c
        for col in range(box[0], box[1] + 1):
            at = r * size + col
            if m[at] == 0:
                continue
            gy = _difference(warped, at, r, size, size)
            gx = _difference(warped, at, col, size, 1)
            ux = col - c
            v0, v1 = gx * ux + gy * uy, gy * ux - gx * uy
            v4, v5 = warped[at], target[at]
            s00 += v0 * v0
            s10 += v1 * v0
            s11 += v1 * v1
            s20 += gx * v0
            s21 += gx * v1
            s22 += gx * gx
            s30 += gy * v0
            s31 += gy * v1
            s32 += gy * gx
            s33 += gy * gy
            s40 += v4 * v0
            s41 += v4 * v1
            s42 += v4 * gx
            s43 += v4 * gy
            s44 += v4 * v4
            s50 += v5 * v0
            s51 += v5 * v1
            s52 += v5 * gx
            s53 += v5 * gy
            s54 += v5 * v4
            s55 += v5 * v5
            s0, s1, s2, s3, s4, s5 = s0 + v0, s1 + v1, s2 + gx, s3 + gy, s4 + v4, s5 + v5
            count += 1.0
    sums = np.zeros((7, 7))
    sums[0, 0] = s00
    sums[1, 0], sums[1, 1] = s10, s11
    sums[2, 0], sums[2, 1], sums[2, 2] = s20, s21, s22
    sums[3, 0], sums[3, 1], sums[3, 2], sums[3, 3] = s30, s31, s32, s33
    sums[4, 0], sums[4, 1], sums[4, 2], sums[4, 3], sums[4, 4] = s40, s41, s42, s43, s44
    sums[5, 0], sums[5, 1], sums[5, 2] = s50, s51, s52
    sums[5, 3], sums[5, 4], sums[5, 5] = s53, s54, s55
    sums[6, 0], sums[6, 1], sums[6, 2], sums[6, 3], sums[6, 4], sums[6, 5] = s0, s1, s2, s3, s4, s5
    sums[6, 6] = count
    return sums


@kernel
def _normal_equations(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred J'J + ridge and J'r, r the gain-matched target minus the warped image."""
    count = max(sums[6, 6], 1.0)
    cov = np.empty((6, 6))  # centred sums of products over the mask
    for k in range(6):
        for j in range(k + 1):
            cov[k, j] = sums[k, j] - sums[6, k] * sums[6, j] / count
            cov[j, k] = cov[k, j]
    gain = max(cov[5, 4] / max(cov[4, 4], 1e-6), 1e-3)
    h, g = np.empty((4, 4)), np.empty(4)
    for k in range(4):
        g[k] = cov[5, k] / gain - cov[4, k]
        for j in range(4):
            h[k, j] = cov[k, j] + (RIDGE if k == j else 0.0)
    return h, g


@kernel
def _solve(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``h x = g`` for a symmetric positive definite 4x4 ``h`` (Cholesky)."""
    low, y, x = np.zeros((4, 4)), np.zeros(4), np.zeros(4)
    for i in range(4):
        for j in range(i + 1):
            s = h[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = math.sqrt(max(s, 1e-30)) if i == j else s / low[j, j]
    for i in range(4):
        s = g[i]
        for k in range(i):
            s -= low[i, k] * y[k]
        y[i] = s / low[i, i]
    for i in range(3, -1, -1):
        s = y[i]
        for k in range(i + 1, 4):
            s -= low[k, i] * x[k]
        x[i] = s / low[i, i]
    return x


@kernel
def steps(
    a: np.ndarray,
    b: np.ndarray,
    params: np.ndarray,
    size: int,
    count: int,
    border: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> None:
    """``count`` Gauss-Newton updates of ``params`` (n, 4; in place) warping ``a`` onto ``b``.

    ``a`` and ``b`` are flattened square images (n, size*size); pixels within
    ``border`` of the edge are left out; updated parameters are clipped to
    [``lo``, ``hi``].
    """
    n_px = a.shape[1]
    warped, m = np.empty(n_px), np.empty(n_px)
    edge = (size - 1) / 2.0 - border
    box = _box(size, edge)
    for q in range(a.shape[0]):
        for _ in range(count):
            _warp(a[q], params[q], size, edge, box, warped, m)
            h, g = _normal_equations(_moments(warped, b[q], m, size, box))
            delta = _solve(h, g)
            for k in range(4):
                params[q, k] = min(max(params[q, k] + delta[k], lo[k]), hi[k])


@kernel
def correlations(
    a: np.ndarray, b: np.ndarray, params: np.ndarray, size: int, border: float
) -> np.ndarray:
    """Correlation of each ``b`` row with its ``a`` row warped by ``params``, over the mask.

    As ``alignment.masked_correlation`` of ``alignment.sample``: pixels the
    warp does not reach and those within ``border`` of the edge are left
    out; 0 where either side is flat.
    """
    n_px = a.shape[1]
    warped, m = np.empty(n_px), np.empty(n_px)
    edge = (size - 1) / 2.0 - border
    box = _box(size, edge)
    out = np.zeros(a.shape[0])
    for q in range(a.shape[0]):
        _warp(a[q], params[q], size, edge, box, warped, m)
        n = w = t = ww = tt = wt = 0.0
        for r in range(box[0], box[1] + 1):
            for at in range(r * size + box[0], r * size + box[1] + 1):
                if m[at] > 0:
                    u, v = warped[at], b[q, at]
                    n, w, t = n + 1, w + u, t + v
                    ww, tt, wt = ww + u * u, tt + v * v, wt + u * v
        n = max(n, 1.0)
        own, other = max(ww - w * w / n, 0.0), max(tt - t * t / n, 0.0)
        norm = math.sqrt(own * other)
        out[q] = (wt - w * t / n) / norm if norm > 1e-6 else 0.0
    return out


@kernel
def warps(a: np.ndarray, params: np.ndarray, size: int) -> np.ndarray:
    """Each row of ``a`` warped by its ``params``: ``alignment.sample`` without the mask."""
    n_px = a.shape[1]
    out = np.empty((a.shape[0], n_px), np.float32)
    warped, m = np.empty(n_px), np.empty(n_px)
    for q in range(a.shape[0]):
        _warp(a[q], params[q], size, 0.0, (0, size - 1), warped, m)
        out[q] = warped
    return out
