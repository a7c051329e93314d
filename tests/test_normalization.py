"""Normalization consistency on real digits and photos, from arrays and from tf.data pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from audit.checks.normalization import find_normalization, value_scale
from audit.config import NormalizationConfig, ProfileConfig
from audit.run import run_check
from audit.sample_data import photo_crops, sample_photos
from pipelines.profile import profile_source
from pipelines.sources import from_arrays, from_datasets
from tests.helpers import alarms, audit_findings, random_split


def _unit(x):
    return x.astype(np.float32) / 255.0


def _findings(splits):
    table = profile_source(from_arrays(splits), ProfileConfig())
    return {f.check: f for f in find_normalization(table, NormalizationConfig())}


FAULTS = {
    "test left unscaled": (lambda x: x.astype(np.float32), "0-255"),
    "test scaled to -1..1": (lambda x: _unit(x) * 2 - 1, "-1..1"),
    "test standardised": (lambda x: (_unit(x) - 0.1307) / 0.3081, "standardised"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_test_split_on_another_scale_is_an_error(fault, mnist_split):
    transform, scale = FAULTS[fault]
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    found = _findings({"train": (_unit(xtr), ytr), "test": (transform(xte), yte)})
    mismatch = found["normalization.value_range_mismatch"]
    assert mismatch.severity == "error"
    assert mismatch.evidence["scale"] == scale
    assert mismatch.evidence["reference_scale"] == "0-1"
    assert "Rescaling(1/255)" in mismatch.fix


def test_the_same_scale_everywhere_is_quiet(mnist_split):
    for transform in (_unit, lambda x: _unit(x) * 2 - 1, lambda x: x):
        splits = {k: (transform(x), y) for k, (x, y) in mnist_split.items()}
        assert "normalization.value_range_mismatch" not in _findings(splits)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ([0.0, 1.0], "0-1"),
        ([-1.0, 1.0], "-1..1"),
        ([0.0, 255.0], "0-255"),
        ([-3.0, 7.0], "other"),
    ],
)
def test_value_scale_names(values, name, mnist_split):
    x, y = mnist_split["test"]
    lo, hi = values
    scaled = lo + _unit(x) * (hi - lo)
    table = profile_source(from_arrays({"test": (scaled, y)}), ProfileConfig())
    assert value_scale(table, NormalizationConfig()).name == name


@pytest.fixture(scope="module")
def photo_split():
    """300 real photo crops (64x64 RGB) split at random, labelled by source photo."""
    x = photo_crops(300, 64, seed=1)
    y = np.arange(300) % len(sample_photos())
    return random_split(x, y, 200, 100, seed=0)


def test_bgr_test_split_is_an_error(photo_split):
    xte, yte = photo_split["test"]
    for transform in (lambda x: x, _unit):
        splits = {
            "train": (transform(photo_split["train"][0]), photo_split["train"][1]),
            "test": (transform(xte[..., ::-1]), yte),
        }
        order = _findings(splits)["normalization.channel_order"]
        assert order.severity == "error"
        assert order.evidence["distance_reversed"] < order.evidence["distance_as_is"] / 2


def test_clean_photo_split_raises_no_data_alarm(photo_split):
    assert alarms(audit_findings(from_arrays(photo_split))) == {}


def test_grayscale_photos_have_no_channel_order(photo_split):
    gray = {
        k: (x.mean(axis=-1, keepdims=True).astype(np.uint8), y) for k, (x, y) in photo_split.items()
    }
    gray["test"] = (gray["test"][0][..., ::-1], gray["test"][1])
    assert "normalization.channel_order" not in _findings(gray)


def test_resized_and_recoloured_splits(mnist_split, photo_split):
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    bigger = tf.image.resize(xte[..., None], (32, 32)).numpy().round().astype(np.uint8)
    size = _findings({"train": (xtr, ytr), "test": (bigger, yte)})["normalization.size_mismatch"]
    assert size.severity == "warning"
    assert size.evidence["shape"] == [32, 32, 1] and size.evidence["reference_shape"] == [28, 28, 1]
    rgb = np.repeat(xte[..., None], 3, axis=-1)
    channels = _findings({"train": (xtr, ytr), "test": (rgb, yte)})
    assert channels["normalization.channels_mismatch"].severity == "error"


def test_nonfinite_and_constant_images(mnist_split):
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    broken = _unit(xte)
    broken[:4, 3, 3] = np.nan
    broken[4, 0, 0] = np.inf
    broken[5:8] = 0.5
    found = _findings({"train": (_unit(xtr), ytr), "test": (broken, yte)})
    assert found["normalization.nonfinite"].severity == "error"
    assert found["normalization.nonfinite"].evidence["ids"] == [f"test/{i}" for i in range(5)]
    assert found["normalization.constant_images"].evidence["ids"] == ["test/5", "test/6", "test/7"]
    clean = _findings({"train": (_unit(xtr), ytr), "test": (_unit(xte), yte)})
    assert "normalization.nonfinite" not in clean and "normalization.constant_images" not in clean


def _datasets(split, preprocess=None, batch=None):
    x, y = split
    ds = tf.data.Dataset.from_tensor_slices((x[..., None], y))
    if preprocess is not None:
        ds = ds.map(preprocess)
    return ds.batch(batch) if batch else ds


def _rescale(image, label):
    return tf.cast(image, tf.float32) / 255.0, label


def test_python_api_catches_preprocessing_applied_to_train_only(mnist_split):
    """What model.fit sees: train mapped through Rescaling, test forgotten."""
    source = from_datasets(
        {
            "train": _datasets(mnist_split["train"], _rescale, batch=32),
            "test": _datasets(mnist_split["test"], lambda x, y: (tf.cast(x, tf.float32), y)),
        }
    )
    result = run_check(source).result
    mismatch = next(f for f in result.findings if f.check == "normalization.value_range_mismatch")
    assert mismatch.severity == "error"
    assert mismatch.message.startswith("test pixels are 0-255")
    assert result.gate.passed is False


def test_python_api_same_preprocessing_is_quiet(mnist_split):
    source = from_datasets(
        {name: _datasets(split, _rescale, batch=32) for name, split in mnist_split.items()}
    )
    result = run_check(source).result
    assert alarms({f.check: f.severity for f in result.findings}) == {}
