"""Thumbnail alignment and descriptor candidates on real images: known edits are undone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from audit.alignment import (
    aligned_score,
    aligned_similarity,
    best_start,
    correlations,
    fit,
    gauss_newton_steps,
    inverse,
    moments,
    numpy_correlations,
    numpy_step,
    pool,
    sample,
    smoothed,
    start_transforms,
    warp_coords,
    warp_images,
)
from audit.descriptors import KEEP, neighbour_candidates
from audit.sample_data import photo_crops
from audit.table import THUMB_SIZE


def _thumb(img: np.ndarray) -> np.ndarray:
    """The profile's thumbnail: grayscale, LANCZOS to 32x32."""
    gray = Image.fromarray(img).convert("L")
    return np.asarray(gray.resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS))


def _rotated(img: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(Image.fromarray(img).rotate(degrees, resample=Image.Resampling.BILINEAR))


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return photo_crops(40, size=96, seed=4)


@pytest.mark.parametrize("degrees", [-6.0, 4.0, 6.0])
def test_fit_recovers_a_rotation(crops, degrees):
    a = np.stack([_thumb(c) for c in crops[:8]])
    b = np.stack([_thumb(_rotated(c, degrees)) for c in crops[:8]])
    params = fit(a, b, np.zeros((8, 4), np.float32))
    # PIL turns counter-clockwise on screen; with y pointing down that is the
    # same sign as the fitted rotation (b's pixels sampled from a)
    angle = np.degrees(np.arctan2(params[:, 1], 1 + params[:, 0]))
    assert np.median(np.abs(angle - degrees)) < 0.5, angle


def test_fit_recovers_a_shift_and_scores_the_copy_above_others(mnist):
    x, _ = mnist
    digits = x[:50]
    shifted = np.stack(
        [
            np.asarray(
                Image.fromarray(d).transform((28, 28), Image.Transform.AFFINE, (1, 0, 2, 0, 1, 1))
            )
            for d in digits
        ]
    )
    a, b = np.stack([_thumb(d) for d in digits]), np.stack([_thumb(np.asarray(d)) for d in shifted])
    same = aligned_similarity(a, b)
    other = aligned_similarity(np.roll(a, 1, axis=0), b)
    assert np.mean(same >= 0.99) >= 0.95
    assert np.mean(other >= 0.99) <= 0.02
    params = fit(a, b, best_start(a, b, start_transforms(moments(a), moments(b))))
    scale = THUMB_SIZE / 28
    assert np.median(params[:, 2]) == pytest.approx(2 * scale, abs=0.4)
    assert np.median(params[:, 3]) == pytest.approx(1 * scale, abs=0.4)


def test_indexed_pairs_score_as_the_gathered_pairs(mnist):
    """``pairs=(i, j)`` (each image smoothed once per block) scores as gathering a[i], b[j]."""
    x, _ = mnist
    a = np.stack([_thumb(d) for d in x[:60]])
    b = np.stack([_thumb(np.roll(d, 1, axis=1)) for d in x[60:100]] + [a[5], a[7]])
    rng = np.random.default_rng(3)
    i, j = rng.integers(0, 60, 1500), np.repeat(np.arange(42), 36)[:1500]
    i[:2], j[:2] = [5, 7], [40, 41]  # two exact copies among them
    got = aligned_similarity(a, b, pairs=(i, j))
    assert np.allclose(got, aligned_similarity(a[i], b[j]), atol=1e-6)
    assert (got[:2] > 0.999).all() and np.median(got[2:]) < 0.99


def test_moments_follow_a_moved_digit(mnist):
    x, _ = mnist
    digit = x[7]
    moved = np.roll(digit, (3, -2), axis=(0, 1))
    before, after = moments(np.stack([_thumb(digit), _thumb(moved)]))
    scale = THUMB_SIZE / 28
    assert after[0] - before[0] == pytest.approx(3 * scale, abs=0.3)
    assert after[1] - before[1] == pytest.approx(-2 * scale, abs=0.3)
    assert after[2] == pytest.approx(before[2], rel=0.05)


def test_neighbour_candidates_hold_the_source_of_rotated_and_cropped_copies(crops):
    refs = np.stack([_thumb(c) for c in crops])
    cropped = [np.asarray(Image.fromarray(c[10:-10, 10:-10]).resize((96, 96))) for c in crops[:10]]
    queries = np.stack([_thumb(_rotated(c, 6)) for c in crops[:10]] + [_thumb(c) for c in cropped])
    found = neighbour_candidates(queries, refs)
    pairs = set(zip(found["q"], found["r"], strict=True))
    hits = sum((q, q % 10) in pairs for q in range(20))
    assert hits >= 19
    assert found.groupby("q").size().max() <= KEEP


def test_inverse_undoes_a_similarity_transform():
    params = np.array([[-0.2, 0.05, 1.5, -2.0], [0.1, -0.08, -3.0, 0.5]], np.float32)
    ys, xs = warp_coords(params, THUMB_SIZE)
    back = inverse(params)
    # map each warped point back through the inverse: the grid comes out again
    c = (THUMB_SIZE - 1) / 2
    for k in range(len(params)):
        a, b, tx, ty = back[k]
        u, v = xs[k] - c, ys[k] - c
        x_back = (1 + a) * u - b * v + c + tx
        y_back = b * u + (1 + a) * v + c + ty
        grid_y, grid_x = warp_coords(np.zeros((1, 4), np.float32), THUMB_SIZE)
        assert np.allclose(x_back, grid_x[0], atol=1e-3)
        assert np.allclose(y_back, grid_y[0], atol=1e-3)
    assert np.allclose(inverse(back), params, atol=1e-5)


def test_cropped_photos_score_higher_compared_in_the_sources_frame(crops):
    """A 10% crop-and-resize copy: one way tops out below 0.99 on detailed photos, both ways not."""
    picked = crops[:16]
    size = picked.shape[1]
    cut = round(size * 0.1)
    a = np.stack([_thumb(c) for c in picked])
    b = np.stack(
        [
            _thumb(np.asarray(Image.fromarray(c[cut:-cut, cut:-cut]).resize((size, size))))
            for c in picked
        ]
    )
    params = fit(a, b, best_start(a, b, start_transforms(moments(a), moments(b))))
    one_way = aligned_score(a, b, params)
    both = aligned_similarity(a, b)
    assert (params[:, 0] < 0).all()  # the fit magnifies the source
    assert (both >= one_way - 1e-6).all()
    assert np.median(both) > np.median(one_way)
    assert np.mean(both >= 0.99) > np.mean(one_way >= 0.99)
    # distinct crops do not gain a match from the second frame
    assert np.mean(aligned_similarity(np.roll(a, 1, axis=0), b) >= 0.99) == 0


def _pairs_from_edits(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed thumbnails of photos and of their rotated, shifted and cropped copies."""
    picked = crops[:12]
    edited = [_rotated(c, 5) for c in picked[:4]]
    edited += [np.roll(c, (3, -2), axis=(0, 1)) for c in picked[4:8]]
    edited += [np.asarray(Image.fromarray(c[8:-8, 8:-8]).resize((96, 96))) for c in picked[8:]]
    a = np.stack([_thumb(c) for c in picked])
    b = np.stack([_thumb(c) for c in edited])
    return smoothed(a), smoothed(b)


@pytest.mark.parametrize("size", [THUMB_SIZE // 2, THUMB_SIZE], ids=["16x16", "32x32"])
def test_compiled_steps_take_the_numpy_steps(crops, size):
    """The compiled Gauss-Newton step is the NumPy step: same parameters after three steps."""
    sa, sb = _pairs_from_edits(crops)
    if size != THUMB_SIZE:
        sa, sb = pool(sa), pool(sb)
    start = np.tile(np.array([0.02, 0.01, 0.5, -0.5], np.float32), (len(sa), 1))
    expected, got = start.copy(), start.copy()
    for _ in range(3):
        numpy_step(sa, sb, expected, size)
    gauss_newton_steps(sa, sb, got, size, 3)
    assert np.abs(expected - start).max() > 0.1  # the steps moved the fit
    assert np.allclose(got, expected, atol=1e-4)
    with pytest.raises(TypeError, match="float32"):  # updated in place: no silent copy
        gauss_newton_steps(sa, sb, start.astype(np.float64), size, 1)


def test_compiled_correlations_are_the_masked_correlation_of_the_warp(crops):
    sa, sb = _pairs_from_edits(crops)
    sa[0] = 7.0  # a flat image correlates 0
    params = np.tile(np.array([0.1, -0.05, 2.0, -3.0], np.float32), (len(sa), 1))
    expected = numpy_correlations(sa, sb, params)
    got = correlations(sa, sb, params)
    assert got[0] == 0.0
    assert np.ptp(expected) > 0.3  # pairs of different quality
    assert np.allclose(got, expected, atol=1e-5)


def test_compiled_warp_is_the_bilinear_sample(crops):
    """The descriptors' warp: every pixel, as ``sample``, also where it runs off the image."""
    sa, _ = _pairs_from_edits(crops)
    params = np.tile(np.array([0.1, 0.2, 5.0, -7.0], np.float32), (len(sa), 1))
    expected, inside = sample(sa, *warp_coords(params, THUMB_SIZE))
    got = warp_images(sa, params)
    assert not inside.all()  # the warp reaches past the edge: clipped samples compared too
    assert got.shape == expected.shape
    assert np.allclose(got, expected, atol=1e-3)
