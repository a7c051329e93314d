"""Every source kind yields the same ImageTable rows for the same images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from audit.config import ProfileConfig
from audit.errors import UserError
from pipelines.profile import profile_source
from pipelines.sources import TFRecordKeys, from_arrays, from_datasets, open_source
from tests.helpers import N_TEST, N_TRAIN, digit_splits

MEASURED = [
    "split",
    "label",
    "class_name",
    "height",
    "width",
    "channels",
    "dtype",
    "min",
    "max",
    "mean",
    "std",
    "mean_c0",
    "std_c0",
    "nonfinite",
    "content_hash",
    "phash",
    "dhash",
    "thumb",
    "error_kind",
]


def _profile(source) -> pd.DataFrame:
    return profile_source(source, ProfileConfig(batch_size=32))


def _canonical(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in a kind-independent order (TFDS shuffles examples by key)."""
    return table[MEASURED].sort_values(["split", "content_hash"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(digit_tree) -> pd.DataFrame:
    return _profile(open_source(str(digit_tree)))


def test_directory_tree_rows(reference, digit_tree):
    assert reference["split"].value_counts().to_dict() == {"train": N_TRAIN, "test": N_TEST}
    assert list(dict.fromkeys(reference["split"])) == ["train", "test"]
    first = reference.iloc[0]
    assert first["id"].startswith("train/") and (digit_tree / first["id"]).is_file()
    assert (reference["class_name"] == reference["label"].astype(str)).all()
    assert reference["error_kind"].isna().all()
    assert (reference["file_bytes"] > 0).all()


SOURCES = {
    "manifest-csv": lambda f: open_source(str(f["digit_manifest_csv"])),
    "manifest-parquet": lambda f: open_source(str(f["digit_manifest_parquet"])),
    "tfrecord": lambda f: open_source(
        str(f["digit_tfrecord"]), keys=TFRecordKeys(id="image/filename")
    ),
    "npz": lambda f: open_source(str(f["digit_npz"])),
    "tfds-by-name": lambda f: open_source(
        "tfds:leakage_audit_test_digits", data_dir=f["digit_tfds"]
    ),
    "tfds-folder": lambda f: open_source(
        str(f["digit_tfds"] / "leakage_audit_test_digits" / "1.0.0")
    ),
    "numpy-arrays": lambda f: from_arrays(digit_splits(f["digits"])),
    "tf-data": lambda f: from_datasets(
        {
            s: tf.data.Dataset.from_tensor_slices(xy).batch(16)
            for s, xy in digit_splits(f["digits"]).items()
        }
    ),
}


@pytest.mark.parametrize("kind", list(SOURCES), ids=list(SOURCES))
def test_every_kind_gives_the_same_rows(kind, reference, request):
    names = [
        "digit_manifest_csv",
        "digit_manifest_parquet",
        "digit_tfrecord",
        "digit_npz",
        "digit_tfds",
        "digits",
    ]
    fixtures = {n: request.getfixturevalue(n) for n in names}
    table = _profile(SOURCES[kind](fixtures))
    pd.testing.assert_frame_equal(_canonical(table), _canonical(reference))


def test_ids_follow_the_contract(reference, digit_manifest_csv, digit_tfrecord, digit_npz):
    manifest = _profile(open_source(str(digit_manifest_csv)))
    assert sorted(manifest["id"]) == sorted(reference["id"])
    records = _profile(open_source(str(digit_tfrecord), keys=TFRecordKeys(id="image/filename")))
    assert sorted(records["id"]) == sorted(reference["id"])
    arrays = _profile(open_source(str(digit_npz)))
    assert arrays["id"].tolist()[:2] == ["train/0", "train/1"]
    assert arrays["id"].tolist()[-1] == f"test/{N_TEST - 1}"


def test_tfrecord_without_id_key_numbers_records(digit_tfrecord):
    table = _profile(open_source(str(digit_tfrecord)))
    assert set(table["id"]) == {f"train/{i}" for i in range(N_TRAIN)} | {
        f"test/{i}" for i in range(N_TEST)
    }


def test_single_split_layout_is_all(photo_tree):
    source = open_source(str(photo_tree))
    assert [s.name for s in source.splits] == ["all"]
    assert source.class_names == ("c0", "c1", "c2")


def test_per_split_class_folders_are_kept(tmp_path, digits):
    from audit.sample_data import save_image

    x, _ = digits
    for split, classes in {"train": ["cat", "dog", "eel"], "test": ["dog", "eel"]}.items():
        for k, name in enumerate(classes):
            save_image(x[k], tmp_path / split / name / "a.png")
    source = open_source(str(tmp_path))
    assert source.class_names == ("cat", "dog", "eel")
    assert source.split_class_names == {"train": ("cat", "dog", "eel"), "test": ("dog", "eel")}


def test_source_images_view_yields_decoded_images(digit_tree):
    source = open_source(str(digit_tree))
    image, label, ident = next(iter(source.images("train")))
    assert image.shape == (28, 28, 1) and image.dtype == tf.uint8
    assert int(label) == int(ident.numpy().decode().split("/")[1])


def test_float_preprocessed_dataset_keeps_its_values(digits):
    x, y = digits
    ds = tf.data.Dataset.from_tensor_slices((x[:40], tf.one_hot(y[:40], 10)))
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32)[..., None] / 255.0, b)).batch(8)
    table = _profile(from_datasets({"train": ds}))
    assert len(table) == 40
    assert set(table["dtype"]) == {"float32"}
    assert table["max"].max() <= 1.0 and table["min"].min() >= 0.0
    assert table["label"].tolist() == y[:40].tolist()


def _text_only_class(root):
    (root / "data" / "cat").mkdir(parents=True)
    (root / "data" / "cat" / "readme.txt").write_text("no images here")
    return root / "data"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nope", "no such file"),
        (lambda p: (p / "a.txt").write_text("x") and p / "a.txt", "cannot tell the format"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no class or split folders"),
        (lambda p: _text_only_class(p), "no image files found"),
    ],
    ids=["missing-path", "unknown-format", "empty-folder", "no-images"],
)
def test_user_mistakes_raise_user_error(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        open_source(str(make(tmp_path)))


def test_manifest_without_label_column_is_named(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("path,split\na.png,train\n")
    with pytest.raises(UserError, match=r"m\.csv: manifest lacks column\(s\) label"):
        open_source(str(path))


def test_tfds_never_downloads_unprepared(tmp_path):
    with pytest.raises(UserError, match=r"not prepared|cannot load"):
        open_source("tfds:mnist", data_dir=tmp_path)


def test_empty_array_split_is_refused():
    with pytest.raises(UserError, match="holds no images"):
        from_arrays({"train": (np.zeros((0, 8, 8), np.uint8), np.zeros(0, int))})
