"""The profile: measurements agree with references, hashes equal imagehash's, failures are named."""

from __future__ import annotations

import os

import imagehash
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from audit.checks.integrity import find_integrity
from audit.config import AuditConfig, IntegrityConfig, ProfileConfig
from audit.errors import UserError
from audit.hashes import Hash64, hamming
from audit.sample_data import save_image
from audit.table import decoded, thumbnails
from pipelines.profile import profile_source
from pipelines.sources import from_arrays, open_source


def _profile(source):
    return profile_source(source, ProfileConfig(batch_size=16))


@pytest.mark.parametrize("tree", ["digit_tree", "photo_tree"], ids=["mnist-png", "photos-jpeg-png"])
def test_hashes_equal_imagehash_bit_for_bit(tree, request):
    root = request.getfixturevalue(tree)
    table = _profile(open_source(str(root)))
    for row in table.itertuples():
        with Image.open(root / row.id) as im:
            assert Hash64(int(row.phash)).hex() == str(imagehash.phash(im)), row.id
            assert Hash64(int(row.dhash)).hex() == str(imagehash.dhash(im)), row.id


def test_value_statistics_match_numpy(photo_tree):
    table = _profile(open_source(str(photo_tree)))
    for row in table[table["id"].str.endswith(".png")].itertuples():
        pixels = np.asarray(Image.open(photo_tree / row.id), dtype=np.float64)
        assert (row.height, row.width, row.channels) == pixels.shape
        assert row.min == pixels.min() and row.max == pixels.max()
        assert row.mean == pytest.approx(pixels.mean(), abs=1e-3)
        assert row.std == pytest.approx(pixels.std(), abs=1e-3)
        means = pixels.reshape(-1, 3).mean(axis=0)
        assert [row.mean_c0, row.mean_c1, row.mean_c2] == pytest.approx(means.tolist(), abs=1e-3)


def test_thumbnail_is_the_pillow_lanczos_resize(digit_tree):
    table = _profile(open_source(str(digit_tree)))
    thumbs = thumbnails(table.head(5))
    for row, thumb in zip(table.head(5).itertuples(), thumbs, strict=True):
        with Image.open(digit_tree / row.id) as im:
            expected = np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS))
        np.testing.assert_array_equal(thumb, expected)


def test_rescaled_copies_keep_their_hashes(digits):
    x, y = digits
    x = x[:40]
    base = _profile(from_arrays({"train": (x, y[:40])}))
    variants = {
        "0-1": x.astype(np.float32) / 255.0,
        "-1..1": x.astype(np.float32) / 127.5 - 1.0,
        "standardised": ((x - x.mean()) / x.std()).astype(np.float32),
    }
    for name, arr in variants.items():
        table = _profile(from_arrays({"train": (arr, y[:40])}))
        assert set(table["dtype"]) == {"float32"}, name
        assert np.median(hamming(table["phash"].to_numpy(), base["phash"].to_numpy())) <= 2, name
        assert (table["content_hash"] != base["content_hash"]).all(), name
    assert _profile(from_arrays({"t": (variants["0-1"], y[:40])}))["max"].max() <= 1.0


def test_nan_values_are_counted_and_ignored_in_statistics(digits):
    x = digits[0][:4].astype(np.float32)
    x[0, 0, :5] = np.nan
    x[1, 3, 3] = np.inf
    table = _profile(from_arrays({"train": (x, None)}))
    assert table["nonfinite"].tolist() == [5, 1, 0, 0]
    assert np.isfinite(table["mean"]).all() and np.isfinite(table["max"]).all()
    assert (table["label"] == -1).all()


def test_content_hash_finds_identical_pixels_only(tmp_path, digits):
    x, _ = digits
    edited = x[0].copy()
    edited[14, 14] ^= 1
    same_bytes = x[0].reshape(14, 56)  # the same pixel values in another shape
    images = {"a.png": x[0], "b.bmp": x[0], "c.png": edited, "d.png": same_bytes}
    for name, image in images.items():
        save_image(image, tmp_path / "k" / name)
    table = _profile(open_source(str(tmp_path))).set_index("id")
    assert table.loc["k/a.png", "content_hash"] == table.loc["k/b.bmp", "content_hash"]
    assert table.loc["k/a.png", "content_hash"] != table.loc["k/c.png", "content_hash"]
    assert table.loc["k/a.png", "content_hash"] != table.loc["k/d.png", "content_hash"]
    assert table["content_hash"].nunique() == 3


def test_broken_files_are_named_and_the_rest_profiled(broken_tree):
    root, broken = broken_tree
    table = _profile(open_source(str(root)))
    assert len(decoded(table)) == 30
    by_id = table.set_index("id")
    for kind, path in broken.items():
        ident = path.relative_to(root).as_posix()
        assert by_id.loc[ident, "error_kind"] == kind, ident
    findings = {f.check: f for f in find_integrity(table, IntegrityConfig())}
    assert set(findings) == {f"integrity.{k}" for k in broken}
    for kind, path in broken.items():
        finding = findings[f"integrity.{kind}"]
        assert path.name in finding.message and finding.severity == "error"
        assert finding.evidence["ids"] == [path.relative_to(root).as_posix()]


def test_clean_data_has_no_integrity_findings(digit_tree, photo_tree):
    for root in (digit_tree, photo_tree):
        assert find_integrity(_profile(open_source(str(root))), IntegrityConfig()) == []


def test_pillow_reads_what_tensorflow_cannot(tmp_path, digits):
    image = (digits[0][0] > 127).astype(np.uint8) * 255
    Image.fromarray(image).convert("1").save(tmp_path / "one_bit.bmp")
    save_image(digits[0][1], tmp_path / "two.png")
    table = _profile(_single(tmp_path))
    row = table.set_index("id").loc["k/one_bit.bmp"]
    assert row["error_kind"] is None and row["channels"] == 1
    with Image.open(tmp_path / "k" / "one_bit.bmp") as im:
        assert Hash64(int(row["phash"])).hex() == str(imagehash.phash(im))
    # measured by Pillow, hashed like the images TensorFlow decodes
    save_image(image, tmp_path / "k" / "same.png")
    again = _profile(open_source(str(tmp_path))).set_index("id")
    assert again.loc["k/same.png", "content_hash"] == again.loc["k/one_bit.bmp", "content_hash"]


def _single(folder):
    target = folder / "k"
    target.mkdir()
    for p in list(folder.glob("*.*")):
        p.rename(target / p.name)
    return open_source(str(folder))


def test_missing_manifest_file_becomes_an_integrity_row(tmp_path, digits):
    save_image(digits[0][0], tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("path,label,split\na.png,1,train\ngone.png,2,train\n")
    table = _profile(open_source(str(tmp_path / "m.csv")))
    assert table.set_index("id").loc["gone.png", "error_kind"] == "missing_file"
    assert table.set_index("id").loc["a.png", "error_kind"] is None


def test_mixed_sizes_in_one_batch_are_measured_shape_by_shape(tmp_path, digits, photos):
    images = {
        "k/a.png": digits[0][0],
        "k/b.png": np.asarray(Image.fromarray(digits[0][1]).resize((40, 20))),
        "k/c.png": photos[0][:50, :70],
        "k/d.png": photos[1][:33, :33],
        "k/e.png": np.dstack([photos[2][:20, :20], np.full((20, 20), 200, np.uint8)]),
        "k/f.png": photos[3][:50, :70],  # c's shape, and g's size bucket: a mixed batch
        "k/g.png": photos[4][:60, :60],  # in which c and f are measured together
    }
    for ident, image in images.items():
        save_image(image, tmp_path / ident)
    table = _profile(open_source(str(tmp_path))).set_index("id")
    assert len(table) == len(images)
    for ident, image in images.items():
        row = table.loc[ident]
        colour = image if image.ndim == 2 else image[..., :3]
        assert (row["height"], row["width"]) == image.shape[:2], ident
        assert row["mean"] == pytest.approx(colour.astype(np.float64).mean(), abs=1e-3), ident
        assert row["std"] == pytest.approx(colour.astype(np.float64).std(), abs=1e-3), ident
        with Image.open(tmp_path / ident) as im:
            assert Hash64(int(row["phash"])).hex() == str(imagehash.phash(im)), ident
            assert Hash64(int(row["dhash"])).hex() == str(imagehash.dhash(im)), ident
    assert table.loc["k/e.png", "channels"] == 4


def test_size_buckets_keep_every_batch_within_the_memory_budget():
    from pipelines.profile import BOUNDARIES, _buckets

    cfg = ProfileConfig(batch_size=256, batch_max_pixels=256 * 256)
    sizes = _buckets(cfg)
    budget = cfg.batch_size * cfg.batch_max_pixels * 4
    assert len(sizes) == len(BOUNDARIES) + 1 and sizes[-1] == 1
    for boundary, size in zip(BOUNDARIES, sizes, strict=False):
        assert size == 1 or size * boundary <= budget
    assert sizes[0] == cfg.batch_size


def test_size_batches_group_images_by_bucket_within_the_budget():
    """Mixed sizes in record order come out in batches of one bucket, none over the budget."""
    from pipelines.profile import _buckets, _element, size_batches

    cfg = ProfileConfig(batch_size=4, batch_max_pixels=4**6)  # budget 4**8 values
    sides = [5, 40, 6, 70, 41, 7, 90, 8, 9, 100, 42, 10, 255]  # 4 buckets, the last alone
    images = tf.data.Dataset.from_generator(
        lambda: (np.full((s, s, 1), s, np.uint8) for s in sides),
        output_signature=tf.TensorSpec([None, None, 1], tf.uint8),
    )
    elements = images.map(lambda im: _element(im, "image", 10**9))
    budget, seen = 4 * 4**6 * 4, []
    for batch in size_batches(elements, cfg):
        flat, buckets = batch["flat"].numpy(), batch["bucket"].numpy()
        assert len(set(buckets)) == 1 and len(flat) <= _buckets(cfg)[buckets[0]]
        assert flat.size <= budget or len(flat) == 1
        for row, (h, w, c) in zip(flat, batch["shape"].numpy(), strict=True):
            assert (row[: h * w * c] == h).all() and (row[h * w * c :] == 0).all()
            seen.append(int(h))
    assert sorted(seen) == sorted(sides)


def test_decode_parallelism_changes_nothing_in_the_table(digit_tree):
    """One decode at a time, 12 per core (the default) and 64 give the same rows, same order."""
    from pipelines.profile import decode_calls

    assert decode_calls(ProfileConfig()) == min(64, 12 * (os.cpu_count() or 1))
    assert decode_calls(ProfileConfig(parallel_decodes=3)) == 3
    assert decode_calls(ProfileConfig(), pixels=784) == decode_calls(ProfileConfig())
    assert decode_calls(ProfileConfig(), pixels=50_000_000) == (os.cpu_count() or 1)
    assert decode_calls(ProfileConfig(parallel_decodes=9), pixels=50_000_000) == 9
    source = open_source(str(digit_tree))
    tables = [
        profile_source(source, ProfileConfig(batch_size=16, parallel_decodes=n)) for n in (1, 0, 64)
    ]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])


def test_sampled_pixels_reads_the_largest_declared_size(tmp_path, digits, photos, digit_tfrecord):
    """Headers of the first files or records bound the decodes in flight; arrays are not sampled."""
    from pipelines.profile import sampled_pixels

    save_image(digits[0][0], tmp_path / "a" / "0.png")
    save_image(photos[0], tmp_path / "a" / "1.jpg", quality=90)
    (tmp_path / "a" / "2.png").write_bytes(b"not an image")
    source = open_source(str(tmp_path))
    assert sampled_pixels(source, source.splits) == photos[0].shape[0] * photos[0].shape[1]
    arrays = from_arrays({"train": (digits[0][:4], digits[1][:4])})
    assert sampled_pixels(arrays, arrays.splits) == 0
    records = open_source(str(digit_tfrecord))
    assert records.payload == "bytes" and sampled_pixels(records, records.splits) == 28 * 28


def test_negative_parallel_decodes_is_a_user_error():
    with pytest.raises(UserError, match="parallel_decodes"):
        AuditConfig(profile=ProfileConfig(parallel_decodes=-1))


def test_manifest_listing_a_file_twice_profiles_both_rows(tmp_path, digits):
    save_image(digits[0][0], tmp_path / "a.png")
    save_image(digits[0][1], tmp_path / "b.png")
    (tmp_path / "m.csv").write_text(
        "path,label,split\na.png,1,train\nb.png,2,train\na.png,1,train\n"
    )
    table = _profile(open_source(str(tmp_path / "m.csv")))
    assert sorted(table["id"]) == ["a.png", "a.png", "b.png"]
    assert table["error_kind"].isna().all()


def test_texture_measures_match_references(photo_tree):
    """Sharpness: std of scipy's Laplacian of the luma; colourfulness: Hasler-Suesstrunk's."""
    from scipy import ndimage

    table = _profile(open_source(str(photo_tree)))
    for row in table[table["id"].str.endswith(".png")].itertuples():
        pixels = np.asarray(Image.open(photo_tree / row.id), dtype=np.float64)
        luma = pixels @ np.array([0.299, 0.587, 0.114])
        assert row.sharpness == pytest.approx(ndimage.laplace(luma)[1:-1, 1:-1].std(), rel=1e-4)
        r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        rg, yb = r - g, (r + g) / 2 - b
        expected = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
        assert row.colorfulness == pytest.approx(expected, rel=1e-4)
        assert row.format == "png" and row.orientation == 0
