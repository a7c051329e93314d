"""Aligning thumbnail pairs, to tell rotated, shifted, cropped or blurred copies.

A pixel-wise correlation cannot see that a 6-degree rotation or a 10% crop
of a digit is the same picture: the strokes move by 2 to 4 pixels. Here the
similarity transform (scale, rotation, translation) that maps ``b``'s pixels
onto ``a`` is fitted by Gauss-Newton (Lucas-Kanade, forward additive) on
lightly smoothed thumbnails, first on 16x16 and then on 32x32 (the steps
and the warp-and-correlate run as compiled kernels, ``alignment_kernels``).
The score is the correlation of ``b`` with the warped ``a`` over the inner
pixels, which a rotation's or translation's fill cannot reach; it is also
tried with either side blurred a little, so a blurred or down-sized copy can
match. When the fit magnifies ``a`` (``b`` is a cropped and enlarged copy),
the pair is also compared the other way, in ``a``'s frame, where neither
side is stretched. Lucas and Kanade, IJCAI 1981; Baker and Matthews,
"Lucas-Kanade 20 Years On", IJCV 2004.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from audit import alignment_kernels
from audit.parallel import ordered_map
from audit.table import THUMB_SIZE

BORDER = 3
"""Pixels of the thumbnail border left out of the comparison (fill from rotation or shift)."""

MAX_PARAMS = np.array([0.4, 0.25, 6.0, 6.0], np.float32)
MIN_PARAMS = np.array([-0.3, -0.25, -6.0, -6.0], np.float32)
"""Bounds of (scale - 1, rotation term, tx, ty): scale 0.7-1.4, up to about 14 degrees, 6 px."""

MATCH_BLURS = (0.5, 0.8, 1.1, 1.5)
"""Gaussian sigmas (thumbnail pixels) tried on either side, for blurred and down-sized copies.

Only tried where the fitted transform is a centred zoom or nothing (STILL:
down-sizing and crop-and-resize lose detail; a rotated or shifted copy keeps
it), and only on the side with more detail (SHARPER). Allowing blur on any
transform let distinct but similar digits fit (2 false pairs per 1,000
clean test digits); on none but the identity, it missed 5 of 30 blurred and
down-sized digits that the fit had also zoomed slightly."""

SHARPER = 1.5
"""Detail ratio from which the sharper side of a pair is blurred to match the other."""

STILL = np.array([0.4, 0.03, 0.75, 0.75], np.float32)
"""Largest |scale - 1|, |rotation term| and |shift| (px) of a transform taken as a centred zoom."""


def moments(thumbs: np.ndarray) -> np.ndarray:
    """Centroid (y, x) and radius of gyration of each thumbnail's contrast to its median level."""
    n = len(thumbs)
    flat = thumbs.reshape(n, -1).astype(np.float64)
    weight = np.abs(flat - np.median(flat, axis=1, keepdims=True))
    total = np.maximum(weight.sum(axis=1), 1e-9)
    yy, xx = (g.ravel() for g in np.mgrid[0:THUMB_SIZE, 0:THUMB_SIZE].astype(np.float64))
    cy, cx = weight @ yy / total, weight @ xx / total
    spread = (weight * ((yy - cy[:, None]) ** 2 + (xx - cx[:, None]) ** 2)).sum(axis=1) / total
    return np.stack([cy, cx, np.sqrt(spread)], axis=1)


ZOOM_STARTS = (1.0, 0.8, 1.25)
"""Scales the alignment may start from: as is, and a 10% crop-and-resize either way."""


def _zoom(n: int, scale: float) -> np.ndarray:
    """``n`` start transforms that only scale about the centre."""
    return np.tile(np.array([scale - 1, 0, 0, 0], np.float32), (n, 1))


def _moment_starts(mom_a: np.ndarray, mom_b: np.ndarray) -> np.ndarray:
    """Warps of ``a`` onto ``b`` that match their centroids and radii of gyration."""
    c = (THUMB_SIZE - 1) / 2
    scale = np.clip(mom_a[:, 2] / np.maximum(mom_b[:, 2], 1e-3), 0.7, 1.4)
    tx = mom_a[:, 1] - scale * (mom_b[:, 1] - c) - c
    ty = mom_a[:, 0] - scale * (mom_b[:, 0] - c) - c
    return np.stack([scale - 1, np.zeros(len(scale)), tx, ty], axis=1).astype(np.float32)


def start_transforms(mom_a: np.ndarray, mom_b: np.ndarray) -> list[np.ndarray]:
    """The transforms a fit may start from, given both sides' ``moments``: zooms and moments."""
    return [_zoom(len(mom_a), z) for z in ZOOM_STARTS] + [_moment_starts(mom_a, mom_b)]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel coordinates relative to the centre (flattened) and the inner-pixel mask."""
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    border = BORDER * size / THUMB_SIZE
    inner = (np.abs(yy - c) < c - border) & (np.abs(xx - c) < c - border)
    return (yy - c).ravel(), (xx - c).ravel(), inner.ravel()


def warp_coords(params: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates (y, x), one row per pair, of the similarity transforms ``params``.

    ``params`` is (n, 4): ``a, b, tx, ty`` with x' = (1+a) u - b v + c + tx and
    y' = b u + (1+a) v + c + ty, where (u, v) are coordinates about the centre c.
    """
    uy, ux, _ = _grid(size)
    c = (size - 1) / 2
    a, b, tx, ty = (params[:, k, None] for k in range(4))
    return b * ux + (1 + a) * uy + c + ty, (1 + a) * ux - b * uy + c + tx


def sample(images: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of flattened square ``images`` (n, s*s) at (ys, xs), and an inside mask."""
    n, size = len(images), math.isqrt(images.shape[1])
    inside = (ys >= 0) & (ys <= size - 1) & (xs >= 0) & (xs <= size - 1)
    ys = np.clip(ys, 0, size - 1.001)
    xs = np.clip(xs, 0, size - 1.001)
    y0, x0 = ys.astype(np.int32), xs.astype(np.int32)
    fy, fx = ys - y0, xs - x0
    idx = y0 * size + x0 + (np.arange(n, dtype=np.int32) * size * size)[:, None]
    flat = images.ravel()
    v00, v01 = np.take(flat, idx), np.take(flat, idx + 1)  # take: 3x faster than flat[idx]
    v10, v11 = np.take(flat, idx + size), np.take(flat, idx + size + 1)
    top = v00 + (v01 - v00) * fx
    bottom = v10 + (v11 - v10) * fx
    return top + (bottom - top) * fy, inside


def masked_correlation(u: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of ``u`` and ``v`` over ``mask``; 0 where either is flat."""
    m = mask.astype(np.float32)
    count = np.maximum(m.sum(axis=1, keepdims=True), 1.0)
    uc = (u - (u * m).sum(axis=1, keepdims=True) / count) * m
    vc = (v - (v * m).sum(axis=1, keepdims=True) / count) * m
    norm = np.sqrt((uc * uc).sum(axis=1) * (vc * vc).sum(axis=1))
    return np.where(norm > 1e-6, (uc * vc).sum(axis=1) / np.maximum(norm, 1e-6), 0.0)


def numpy_step(a: np.ndarray, b: np.ndarray, params: np.ndarray, size: int) -> np.ndarray:
    """One Gauss-Newton update of ``params`` (in place) for warping ``a`` onto ``b``, in NumPy.

    The statement of what ``alignment_kernels.steps`` computes: its oracle in the
    tests and its peer in ``benchmarks/alignment_speed.py``.
    """
    uy, ux, inner = _grid(size)
    warped, inside = sample(a, *warp_coords(params, size))
    gy, gx = np.gradient(warped.reshape(-1, size, size), axis=(1, 2))
    gx, gy = gx.reshape(len(a), -1), gy.reshape(len(a), -1)
    m = (inside & inner).astype(np.float32)
    count = np.maximum(m.sum(axis=1, keepdims=True), 1.0)
    jac = np.stack([gx * ux + gy * uy, gy * ux - gx * uy, gx, gy], axis=-1) * m[..., None]
    jac -= jac.sum(axis=1, keepdims=True) / count[..., None] * m[..., None]
    ic = (warped - (warped * m).sum(axis=1, keepdims=True) / count) * m
    tc = (b - (b * m).sum(axis=1, keepdims=True) / count) * m
    gain = np.maximum((tc * ic).sum(axis=1) / np.maximum((ic * ic).sum(axis=1), 1e-6), 1e-3)
    residual = tc / gain[:, None] - ic
    jt = jac.transpose(0, 2, 1)
    hessian = jt @ jac + np.eye(4, dtype=np.float32) * 1e-3
    params += np.linalg.solve(hessian, jt @ residual[..., None])[..., 0]
    np.clip(params, MIN_PARAMS, MAX_PARAMS, out=params)
    return params


def masked_warp(a: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnails ``a`` warped by ``params`` (NumPy), and the pixels scores use: reached, inner."""
    warped, inside = sample(a, *warp_coords(params, THUMB_SIZE))
    return warped, inside & _grid(THUMB_SIZE)[2]


def numpy_correlations(a: np.ndarray, b: np.ndarray, params: np.ndarray) -> np.ndarray:
    """``correlations`` in NumPy: its oracle in the tests and its peer in the benchmark."""
    warped, mask = masked_warp(a, params)
    return masked_correlation(warped, b, mask)


def correlations(a: np.ndarray, b: np.ndarray, params: np.ndarray) -> np.ndarray:
    """``masked_correlation`` of ``b`` with ``a`` warped by ``params`` (thumbnails), compiled."""
    a32, b32 = (np.ascontiguousarray(x, np.float32) for x in (a, b))
    p32 = np.ascontiguousarray(params, np.float32)
    return alignment_kernels.correlations(a32, b32, p32, THUMB_SIZE, float(BORDER))


def warp_images(images: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Thumbnails (flattened rows) warped by ``params``, bilinear, compiled: ``sample``'s values."""
    a32, p32 = (np.ascontiguousarray(x, np.float32) for x in (images, params))
    return alignment_kernels.warps(a32, p32, math.isqrt(a32.shape[1]))


def gauss_newton_steps(
    a: np.ndarray, b: np.ndarray, params: np.ndarray, size: int, count: int
) -> None:
    """``count`` Gauss-Newton updates of ``params`` (in place), compiled (``alignment_kernels``).

    ``params`` must be a C-contiguous float32 (n, 4) array: it is updated where it is.
    """
    if params.dtype != np.float32 or not params.flags.c_contiguous:
        raise TypeError("gauss_newton_steps updates params in place: pass C-contiguous float32")
    a32, b32 = (np.ascontiguousarray(x, np.float32) for x in (a, b))
    border = BORDER * size / THUMB_SIZE
    alignment_kernels.steps(a32, b32, params, size, count, border, MIN_PARAMS, MAX_PARAMS)


def pool(images: np.ndarray) -> np.ndarray:
    """2x2 average pooling of flattened square images.

    Four strided adds: ``mean(axis=(2, 4))`` gave the same values 15 times slower.
    """
    n, size = len(images), math.isqrt(images.shape[1])
    g = images.reshape(n, size // 2, 2, size // 2, 2)
    quad = (g[:, :, 0, :, 0] + g[:, :, 0, :, 1]) + (g[:, :, 1, :, 0] + g[:, :, 1, :, 1])
    return quad.reshape(n, -1) * images.dtype.type(0.25)


def smoothed(thumbs: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Thumbnails blurred by ``sigma`` pixels, as float rows (n, THUMB_SIZE**2).

    Integer thumbnails become float32; float ones keep their precision.
    """
    n = len(thumbs)
    grid = thumbs if thumbs.dtype.kind == "f" else thumbs.astype(np.float32)
    return ndimage.gaussian_filter(grid, (0, sigma, sigma)).reshape(n, math.prod(grid.shape[1:]))


def fit(
    a: np.ndarray, b: np.ndarray, start: np.ndarray, iters: tuple[int, int] = (6, 3)
) -> np.ndarray:
    """Similarity transforms warping thumbnails ``a`` onto ``b`` from ``start``."""
    return _fit_smoothed(smoothed(a), smoothed(b), start, iters)


def numpy_steps(a: np.ndarray, b: np.ndarray, params: np.ndarray, size: int, count: int) -> None:
    """``gauss_newton_steps`` in NumPy (``count`` of ``numpy_step``): the benchmark's peer."""
    for _ in range(count):
        numpy_step(a, b, params, size)


def _fit_smoothed(
    sa: np.ndarray,
    sb: np.ndarray,
    start: np.ndarray,
    iters: tuple[int, int] = (6, 3),
    steps: Callable[..., None] = gauss_newton_steps,
) -> np.ndarray:
    """``fit`` on thumbnails already ``smoothed``; ``steps`` is ``numpy_steps`` in the benchmark."""
    params = start.astype(np.float32).copy()
    params[:, 2:] /= 2
    ca, cb = pool(sa), pool(sb)
    steps(ca, cb, params, THUMB_SIZE // 2, iters[0])
    params[:, 2:] *= 2
    steps(sa, sb, params, THUMB_SIZE, iters[1])
    return params


def _blur(flat: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of flattened thumbnails."""
    return smoothed(flat.reshape(len(flat), THUMB_SIZE, THUMB_SIZE), sigma)


def aligned_score(a: np.ndarray, b: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Correlation of ``b`` with ``a`` warped by ``params`` over the inner pixels, blur-matched."""
    n = len(a)
    flat_a, flat_b = (x.reshape(n, -1).astype(np.float32) for x in (a, b))
    best = correlations(flat_a, flat_b, params)
    still = centred_zoom(params)
    if not still.any():
        return best
    (warped, mask), flat_b = masked_warp(flat_a[still], params[still]), flat_b[still]
    ratio = detail(warped) / np.maximum(detail(flat_b), 1e-9)
    blurred = best[still]
    sharp_a, sharp_b = ratio >= SHARPER, ratio <= 1 / SHARPER  # blur only the sharper side
    wa, fa, ma = warped[sharp_a], flat_b[sharp_a], mask[sharp_a]
    wb, fb, mb = warped[sharp_b], flat_b[sharp_b], mask[sharp_b]
    for sigma in MATCH_BLURS:
        soft_a = masked_correlation(_blur(wa, sigma), fa, ma)
        soft_b = masked_correlation(wb, _blur(fb, sigma), mb)
        blurred[sharp_a] = np.maximum(blurred[sharp_a], soft_a)
        blurred[sharp_b] = np.maximum(blurred[sharp_b], soft_b)
    best[still] = blurred
    return best


def inverse(params: np.ndarray) -> np.ndarray:
    """The similarity transforms undoing ``params`` (warping ``b`` onto ``a`` instead)."""
    a, b, tx, ty = (params[:, k] for k in range(4))
    s2 = (1 + a) ** 2 + b**2
    ia, ib = (1 + a) / s2, -b / s2
    return np.stack([ia - 1, ib, ib * ty - ia * tx, -ib * tx - ia * ty], axis=1).astype(np.float32)


REFINE_STEPS = 3
"""Gauss-Newton steps that refine an inverted transform in the other image's frame."""


def both_ways_score(
    a: np.ndarray, b: np.ndarray, sa: np.ndarray, sb: np.ndarray, params: np.ndarray
) -> np.ndarray:
    """``aligned_score``, and for pairs whose fit magnifies ``a``, the better of both frames.

    A 10% crop-and-resize copy ``b`` shows a's inner 80% stretched to the
    full thumbnail; warping ``a`` onto it stretches a's 25 pixels to 32, and
    the correlation of detailed photos tops out near 0.95 there. Warping
    ``b`` onto ``a`` (the inverse, refined by REFINE_STEPS in a's frame)
    shrinks ``b`` instead and loses nothing. Measured on planted photo crops:
    the lowest source score of 21 crops rose from 0.66 to 0.94 with no new
    false pair; on real MNIST digits it changed no family but blur (0.93 to
    1.00 recall). ``sa``/``sb`` are the ``smoothed`` thumbnails.
    """
    score = aligned_score(a, b, params)
    zoomed = params[:, 0] < 0
    if zoomed.any():
        back = inverse(params[zoomed])
        soft_b, soft_a = sb[zoomed], sa[zoomed]
        gauss_newton_steps(soft_b, soft_a, back, THUMB_SIZE, REFINE_STEPS)
        other_way = aligned_score(b[zoomed], a[zoomed], back)
        score[zoomed] = np.maximum(score[zoomed], other_way)
    return score


def detail(flat: np.ndarray) -> np.ndarray:
    """Scale-free sharpness of thumbnails: Laplacian energy over variance."""
    grid = flat.reshape(len(flat), THUMB_SIZE, THUMB_SIZE)
    return _laplace(grid).reshape(len(flat), -1).var(axis=1) / np.maximum(flat.var(axis=1), 1e-9)


def _laplace(grid: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of each image of a stack (edges replicated)."""
    padded = np.pad(grid, ((0, 0), (1, 1), (1, 1)), mode="edge")
    return (
        padded[:, :-2, 1:-1]
        + padded[:, 2:, 1:-1]
        + padded[:, 1:-1, :-2]
        + padded[:, 1:-1, 2:]
        - 4 * grid
    )


def centred_zoom(params: np.ndarray) -> np.ndarray:
    """Transforms within STILL: any zoom in bounds, (almost) no rotation and no shift."""
    return (np.abs(params) <= STILL).all(axis=1)


def aligned_similarity(
    a: np.ndarray,
    b: np.ndarray,
    starts: list[np.ndarray] | None = None,
    block: int = 512,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Aligned score of each pair (``a[i]``, ``b[i]``), fitted from the best of ``starts``.

    With ``pairs`` = (i, j), the pairs are (``a[i[k]]``, ``b[j[k]]``): a
    block then smooths and measures each image once, however many of its
    pairs it holds (a query has up to ``descriptors.KEEP`` candidates).
    ``starts`` defaults to ``start_transforms`` of the pairs' moments. Pairs
    are processed in blocks of 512, so the NumPy working arrays stay in
    cache, on one thread per core (the kernels and NumPy's array work
    release the GIL). Since the kernels, 256 to 2,048 per block time alike.
    """
    i, j = pairs if pairs is not None else (np.arange(len(a)), np.arange(len(b)))

    def one(s: int) -> np.ndarray:
        part = slice(s, s + block)
        (own_a, at_a), (own_b, at_b) = (np.unique(k[part], return_inverse=True) for k in (i, j))
        ta, tb = a[own_a], b[own_b]
        tried = (
            start_transforms(moments(ta)[at_a], moments(tb)[at_b])
            if starts is None
            else [x[part] for x in starts]
        )
        # once per image for the start and the fit
        sa, sb = smoothed(ta)[at_a], smoothed(tb)[at_b]
        params = _fit_smoothed(sa, sb, _best_start_smoothed(sa, sb, tried))
        return both_ways_score(ta[at_a], tb[at_b], sa, sb, params)

    scores = list(ordered_map(one, range(0, len(i), block)))
    return np.concatenate(scores) if scores else np.empty(0)


def best_start(a: np.ndarray, b: np.ndarray, starts: list[np.ndarray]) -> np.ndarray:
    """Per pair, the start transform under which the smoothed thumbnails correlate best.

    One fit from the better start costs half of fitting from both, and the
    moment-based start is only better when the copy moved (shift, crop).
    """
    return _best_start_smoothed(smoothed(a), smoothed(b), starts)


def _best_start_smoothed(sa: np.ndarray, sb: np.ndarray, starts: list[np.ndarray]) -> np.ndarray:
    """``best_start`` on thumbnails already ``smoothed``."""
    n = len(sa)
    scores = [correlations(sa, sb, start) for start in starts]
    choice = np.argmax(np.stack(scores), axis=0)
    return np.stack(starts)[choice, np.arange(n)]
