"""Property drift on real digits and photos: inverted, blurred, resized, grayscale test splits."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from audit.checks.drift import find_drift
from audit.config import AuditConfig, ProfileConfig
from audit.sample_data import photo_crops
from pipelines.profile import profile_source
from pipelines.sources import from_arrays
from tests.helpers import random_split


def _blur(images, sigma=1.0):
    axes = (sigma, sigma, 0) if images.ndim == 4 else sigma
    return (
        np.stack([ndimage.gaussian_filter(i.astype(float), axes) for i in images])
        .round()
        .astype(np.uint8)
    )


def _drift(splits):
    table = profile_source(from_arrays(splits), ProfileConfig())
    return {f.check: f for f in find_drift(table, AuditConfig())}


DIGIT_FAULTS = {
    "inverted": (lambda x: 255 - x, "drift.brightness"),
    "blurred": (_blur, "drift.sharpness"),
    "resized": (
        lambda x: tf.image.resize(x[..., None], (40, 40)).numpy().round().astype(np.uint8),
        "drift.size",
    ),
}


@pytest.mark.parametrize("fault", list(DIGIT_FAULTS))
def test_digit_test_split_drift_is_found(fault, mnist_split):
    transform, check = DIGIT_FAULTS[fault]
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    found = _drift({"train": (xtr, ytr), "test": (transform(xte), yte)})
    assert found[check].severity == "error"
    stats = found[check].evidence["splits"]["test"]
    assert stats["ks_statistic"] >= 0.5 and stats["p_value"] < 1e-6


def test_clean_digit_split_does_not_drift(mnist_split):
    assert _drift(mnist_split) == {}


def test_value_scale_alone_is_not_drift(mnist_split):
    """0-1 test against 0-255 train is a normalization fault, not a content drift."""
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    assert _drift({"train": (xtr / 255.0, ytr), "test": (xte.astype(np.float64), yte)}) == {}


def test_a_quarter_inverted_is_a_warning(mnist_split):
    """A quarter of test inverted is a warning-sized shift, not an error."""
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    mixed = xte.copy()
    mixed[: len(mixed) // 4] = 255 - mixed[: len(mixed) // 4]
    found = _drift({"train": (xtr, ytr), "test": (mixed, yte)})
    assert found["drift.brightness"].severity == "warning"


@pytest.fixture(scope="module")
def photo_split():
    x = photo_crops(240, 64, seed=4)
    return random_split(x, np.arange(240) % 2, 160, 80, seed=1)


def test_photo_blur_and_grayscale_drift(photo_split):
    (xtr, ytr), (xte, yte) = photo_split["train"], photo_split["test"]
    assert _drift(photo_split) == {}
    blurred = _drift({"train": (xtr, ytr), "test": (_blur(xte), yte)})
    assert blurred["drift.sharpness"].severity == "error"
    gray = np.repeat((xte @ [0.299, 0.587, 0.114]).round().astype(np.uint8)[..., None], 3, -1)
    found = _drift({"train": (xtr, ytr), "test": (gray, yte)})
    assert found["drift.colorfulness"].severity == "error"
    assert found["drift.colorfulness"].evidence["splits"]["test"]["median"] == 0


def test_small_splits_are_not_compared(mnist_split):
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    assert _drift({"train": (xtr, ytr), "test": (255 - xte[:10], yte[:10])}) == {}
