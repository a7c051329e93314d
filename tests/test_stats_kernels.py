"""The compiled statistics agree with NumPy for every channel layout, dtype and size, padded."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.features import STATS_DTYPES, batch_stats
from pipelines.stats_kernels import LUMA, TEXTURE_SIDE
from tests.helpers import padded_batch


def _reference(image: np.ndarray) -> dict[str, float]:
    """Every figure of ``batch_stats`` for one image, in plain float64 NumPy."""
    x = image[..., : 3 if image.shape[-1] >= 3 else 1].astype(np.float64)  # alpha excluded
    finite = np.isfinite(x)
    per_channel = [x[..., k][finite[..., k]] for k in range(x.shape[-1])]
    out = {
        "min": x[finite].min(),
        "max": x[finite].max(),
        "mean": x[finite].mean(),
        "std": x[finite].std(),
        "nonfinite": int((~finite).sum()),
    }
    for k in range(3):
        out[f"mean_c{k}"] = per_channel[k].mean() if k < len(per_channel) else np.nan
        out[f"std_c{k}"] = per_channel[k].std() if k < len(per_channel) else np.nan
    h, w = x.shape[:2]
    top, left = max((h - TEXTURE_SIDE) // 2, 0), max((w - TEXTURE_SIDE) // 2, 0)
    square = np.where(finite, x, 0.0)[top : top + TEXTURE_SIDE, left : left + TEXTURE_SIDE]
    rgb = square if square.shape[-1] == 3 else np.repeat(square[..., :1], 3, axis=-1)
    luma = rgb @ np.array(LUMA)
    lap = 4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    out["sharpness"] = lap.std() if min(luma.shape) >= 3 else np.nan
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, (r + g) / 2 - b
    out["colorfulness"] = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return out


def _check(images: list[np.ndarray], got: dict[str, np.ndarray], exact: bool) -> None:
    for i, image in enumerate(images):
        want = _reference(image)
        assert (got["height"][i], got["width"][i], got["channels"][i]) == image.shape
        assert got["nonfinite"][i] == want["nonfinite"]
        for name in ("min", "max"):
            assert got[name][i] == np.float32(want[name]), (i, name)
        for name in ("mean", "std", "sharpness", "colorfulness"):
            assert got[name][i] == pytest.approx(want[name], rel=2e-6, abs=1e-6, nan_ok=True), (
                i,
                name,
            )
        for k in range(3):
            for name, key in ((f"mean_c{k}", "ch_mean"), (f"std_c{k}", "ch_std")):
                value, expected = got[key][i, k], want[name]
                assert value == pytest.approx(expected, rel=2e-6, abs=1e-6, nan_ok=True), (i, name)
    if exact:
        assert (got["nonfinite"] == 0).all()


def _layouts(rng: np.random.Generator, dtype: type) -> list[np.ndarray]:
    """Gray, gray+alpha, RGB, RGBA, a photo-sized image (cropped for texture), tiny ones."""
    shapes = [(28, 28, 1), (20, 30, 2), (33, 17, 3), (25, 25, 4), (150, 200, 3), (2, 2, 3)]
    shapes.append((1, 5, 1))
    return [(rng.random(s) * 255).astype(dtype) for s in shapes]


def test_uint8_batch_of_mixed_layouts_matches_numpy():
    images = _layouts(np.random.default_rng(0), np.uint8)
    flat, shapes = padded_batch(images, fill=255)  # padding must not leak into any figure
    got = batch_stats(flat, shapes)
    _check(images, got, exact=True)
    assert {k: v.dtype for k, v in got.items()} == STATS_DTYPES
    assert list(got) == list(STATS_DTYPES)  # the order batch_measures hands them on in
    assert np.isnan(got["sharpness"][5]) and np.isnan(got["sharpness"][6])  # under 3x3


def test_float_batch_counts_and_ignores_nan_and_inf():
    layouts = _layouts(np.random.default_rng(1), np.uint8)
    images = [im.astype(np.float32) / 255.0 - 0.5 for im in layouts]
    images[0][3, 4, 0] = np.nan
    images[2][0, 0, 1] = np.inf
    images[2][5, :, 2] = -np.inf
    images[4][60:70, 60:70, :] = np.nan  # inside the texture square
    flat, shapes = padded_batch(images, fill=np.nan)
    got = batch_stats(flat, shapes)
    _check(images, got, exact=False)
    assert got["nonfinite"][:5].tolist() == [1, 0, 18, 0, 300]


def test_other_dtypes_are_measured_as_float32():
    image = np.random.default_rng(2).integers(-300, 300, (12, 14, 3)).astype(np.int16)
    got = batch_stats(image.reshape(1, -1), np.array([image.shape]))
    _check([image], got, exact=False)


def test_a_uint8_image_of_one_value_has_zero_spread():
    image = np.full((40, 40, 3), 77, np.uint8)
    got = batch_stats(image.reshape(1, -1), np.array([image.shape]))
    assert got["std"][0] == 0 and (got["ch_std"][0] == 0).all()
    assert got["sharpness"][0] == 0 and got["colorfulness"][0] == 0
    assert got["mean"][0] == 77 and got["min"][0] == got["max"][0] == 77
