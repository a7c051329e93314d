"""The Beam path (``check --runner DirectRunner``) gives what the local path gives.

Same real digits, planted exact and near copies across and within splits, a
corrupt file and hundreds of near-blank images (hot hash keys): the Beam
pipeline must produce the same ImageTable rows, exactly the same duplicate
pairs and the same findings. The salted join is also checked against brute
force on synthetic hashes with a planted hot key.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter

import apache_beam as beam
import numpy as np
import pandas as pd
import pytest
from apache_beam.testing.util import assert_that

from audit.checks.leakage import hash_pairs, ordered_pairs
from audit.cli import EXIT_FAILED, EXIT_USAGE, main
from audit.config import AuditConfig
from audit.hash_index import brute_force_pairs
from audit.sample_data import save_image
from audit.table import decoded
from pipelines import beam as beam_path
from pipelines.profile import profile_source
from pipelines.sources import open_source
from pipelines.sources.remote import load_remote

RUNNER = ["--runner", "DirectRunner"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory, mnist):
    """240 real digits in train/test plus copies, a corrupt file and 260 near-blank images."""
    x, y = mnist
    root = tmp_path_factory.mktemp("beam")
    for k in range(240):
        split = "train" if k < 180 else "test"
        save_image(x[k], root / split / str(y[k]) / f"{k:04d}.png")
    rng = np.random.default_rng(3)
    for k in range(8):  # exact copies of train in test, one under another label
        label = (y[k] + 1) % 10 if k == 0 else y[k]
        save_image(x[k], root / "test" / str(label) / f"copy-{k}.png")
    for k in range(8, 16):  # noisy copies of train in test
        noisy = np.clip(x[k] + rng.normal(0, 3, x[k].shape), 0, 255).astype(np.uint8)
        save_image(noisy, root / "test" / str(y[k]) / f"noisy-{k}.png")
    for k in range(20, 26):  # mirrored copies of train in test (--flip-invariant finds them)
        save_image(x[k][:, ::-1], root / "test" / str(y[k]) / f"mirror-{k}.png")
    for k in range(16, 20):  # within-split copies
        save_image(x[k], root / "train" / str(y[k]) / f"again-{k}.png")
    for k in range(260):  # near-blank images share their hash chunks: hot keys
        blank = np.zeros((28, 28), np.uint8)
        blank[k % 28, (k * 11) % 28] = 1 + k % 4
        save_image(blank, root / "train" / "0" / f"blank-{k:03d}.png")
    (root / "test" / str(y[180]) / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def _same_rows_and_pairs(src, tmp_path, beam_source=None, cfg=None):
    """Run the Beam path on ``src``; assert the local rows and hash pairs; the table and pairs.

    ``beam_source`` is what the Beam path reads (default: the local reader's source).
    """
    cfg = cfg or AuditConfig()
    source = open_source(str(src))
    local = profile_source(source, cfg.profile)
    table, pairs = beam_path.run_beam(
        beam_source or source, cfg.profile, cfg.leakage, "DirectRunner", [], str(tmp_path / "work")
    )
    pd.testing.assert_frame_equal(table, local)
    rows = decoded(local).reset_index(drop=True)
    pd.testing.assert_frame_equal(ordered_pairs(pairs), hash_pairs(rows, cfg.leakage))
    return table, pairs


def test_beam_path_gives_the_local_rows_pairs_and_findings(planted, tmp_path, monkeypatch):
    monkeypatch.setattr(beam_path, "HOT_KEY_ROWS", 32)  # salt the blank images' keys
    table, _ = _same_rows_and_pairs(planted, tmp_path)
    assert table["error_kind"].notna().sum() == 1

    args = ["check", str(planted), "--no-cache", "-q"]
    assert main([*args, "--out", str(tmp_path / "local")]) == EXIT_FAILED
    assert main([*args, "--out", str(tmp_path / "beam"), *RUNNER]) == EXIT_FAILED
    reports = [json.loads((tmp_path / d / "report.json").read_text()) for d in ("local", "beam")]
    for key in ("dataset", "findings", "leakage", "balance", "normalization", "drift", "gate"):
        assert reports[0][key] == reports[1][key], key
    kinds = Counter(p["kind"] for p in reports[1]["leakage"]["pairs"])
    assert kinds["exact"] >= 12 and kinds["near"] >= 8
    assert reports[1]["leakage"]["label_conflicts"]
    checks = {f["check"] for f in reports[1]["findings"]}
    assert {"leakage.cross_split_duplicate", "leakage.within_split_duplicate"} <= checks
    assert "integrity.corrupt" in checks or "integrity.not_an_image" in checks
    assert list((tmp_path / "beam" / "beam" / "profile").glob("part-*.parquet"))


def test_flip_invariant_join_finds_the_local_mirrored_pairs(planted, tmp_path, monkeypatch):
    monkeypatch.setattr(beam_path, "HOT_KEY_ROWS", 32)
    base = AuditConfig()
    cfg = dataclasses.replace(base, leakage=dataclasses.replace(base.leakage, flip_invariant=True))
    table, pairs = _same_rows_and_pairs(planted, tmp_path, cfg=cfg)
    ids = decoded(table).reset_index(drop=True)["id"].to_numpy()
    paired = set(ids[pairs["i"]]) | set(ids[pairs["j"]])
    found = [k for k in range(20, 26) if any(i.endswith(f"mirror-{k}.png") for i in paired)]
    assert len(found) >= 5, found


def test_salted_hot_keys_bound_every_group_and_meet_each_pair_once(monkeypatch):
    monkeypatch.setattr(beam_path, "HOT_KEY_ROWS", 16)
    key = (0, 5)
    entries = [(key, ("x", r, 0, f"c{r}")) for r in range(100)]
    entries += [(key, ("q", r, 0, f"c{r}")) for r in range(60)]
    hot = {key: (100, 60)}
    groups: dict = {}
    for entry in entries:
        for salted, value in beam_path._salted(entry, hot):
            groups.setdefault(salted, []).append(value)
    for members in groups.values():
        sides = Counter(v[0] for v in members)
        assert sides["x"] <= 16 and sides["q"] <= 16
    met = Counter(
        (q[1], x[1])
        for members in groups.values()
        for q in members
        if q[0] == "q"
        for x in members
        if x[0] == "x"
    )
    assert len(met) == 100 * 60 and set(met.values()) == {1}


def _expected(found, mirrored):
    """Brute-force pairs as the join reports them: ``(a < b, distance, mirrored)``."""
    keep = found.left != found.right if mirrored else found.left < found.right
    low = np.minimum(found.left, found.right)[keep].tolist()
    high = np.maximum(found.left, found.right)[keep].tolist()
    distance = found.distance[keep].tolist()
    return {(a, b, d, mirrored) for a, b, d in zip(low, high, distance, strict=True)}


@pytest.mark.parametrize("mirrored", [False, True], ids=["plain", "flip-invariant"])
def test_beam_join_matches_brute_force(monkeypatch, mirrored):
    monkeypatch.setattr(beam_path, "HOT_KEY_ROWS", 8)
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**64 - 1, 400, dtype=np.uint64)
    for k in range(0, 100, 2):  # planted near pairs, 1 to 10 bits apart
        flips = rng.choice(64, int(rng.integers(1, 11)), replace=False)
        hashes[k + 1] = hashes[k] ^ np.uint64(sum(1 << int(b) for b in flips))
    hashes[300:340] = hashes[300]  # a hot key: 40 rows with one hash
    mirrors = rng.integers(0, 2**64 - 1, 400, dtype=np.uint64)  # "mirrored thumbnails' hashes"
    for k in range(100, 160, 3):  # mirrored near copies of a later and of an earlier row
        flips = rng.choice(64, int(rng.integers(0, 11)), replace=False)
        other = k + 1 if k % 2 else k - 1
        mirrors[k] = hashes[other] ^ np.uint64(sum(1 << int(b) for b in flips))
    signed, signed_mirrors = (h.view(np.int64).tolist() for h in (hashes, mirrors))
    pairs = zip(signed, signed_mirrors, strict=True)
    rows = [(r, h, f"c{r}", b"", m) for r, (h, m) in enumerate(pairs)]
    expected = _expected(brute_force_pairs(hashes, hashes, 10), False)
    if mirrored:
        expected |= _expected(brute_force_pairs(mirrors, hashes, 10), True)
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        found = (
            pipeline
            | beam.Create(rows)
            | beam_path.near_candidates(10, len(rows), mirrored)
            | beam.combiners.ToList()
        )

        def same(result):
            assert len(result[0]) == len(set(result[0]))  # each pair once
            assert set(result[0]) == expected

        assert_that(found, same)
    assert len(expected) >= 50 + 40 * 39 // 2 + (20 if mirrored else 0)


def test_runner_mistakes_exit_2(tmp_path, planted, capsys):
    out = ["--out", str(tmp_path / "o"), "--no-cache", "-q"]
    assert main(["check", str(planted), *out, "--runner", "NoSuchRunner"]) == EXIT_USAGE
    assert "not one of DirectRunner" in capsys.readouterr().err
    assert main(["check", str(planted), *out, "--project", "p"]) == EXIT_USAGE
    assert "need --runner" in capsys.readouterr().err
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.zeros(4))
    assert main(["check", str(tmp_path / "d.npz"), *out, *RUNNER]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--runner needs image files" in err and "Traceback" not in err


def test_tfrecord_shards_are_read_by_the_workers(planted, tmp_path):
    """Three shards per split, default ids ``<split>/<position>``: same rows as the local reader."""
    import tensorflow as tf

    folder = tmp_path / "shards"
    folder.mkdir()
    written = 0
    for split in ("train", "test"):
        files = sorted((planted / split).rglob("*.png"))[:90]
        written += len(files)
        for j in range(3):
            name = folder / f"{split}-{j:05d}-of-00003"
            with tf.io.TFRecordWriter(str(name)) as writer:
                for path in files[j::3]:
                    feature = {
                        "image/encoded": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[path.read_bytes()])
                        ),
                        "image/class/label": tf.train.Feature(
                            int64_list=tf.train.Int64List(value=[int(path.parent.name)])
                        ),
                    }
                    example = tf.train.Example(features=tf.train.Features(feature=feature))
                    writer.write(example.SerializeToString())
    table, _ = _same_rows_and_pairs(folder, tmp_path)
    assert len(table) == written and f"test/{written - 91}" in set(table["id"])
    assert table["error_kind"].notna().sum() == 1  # the broken PNG, named by its position


def test_manifest_groups_travel_to_the_workers(planted, tmp_path):
    """A manifest with a group column: same rows (groups included) and the same group finding."""
    files = sorted(planted.rglob("*.png"))[::4]
    manifest = pd.DataFrame(
        {
            "path": [str(p) for p in files],
            "label": [p.parent.name for p in files],
            "split": [p.parts[-3] for p in files],
            "group": [f"patient{k % 7}" for k in range(len(files))],  # every patient in both
        }
    )
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    args = ["check", str(tmp_path / "manifest.csv"), "--no-cache", "-q"]
    assert main([*args, "--out", str(tmp_path / "local")]) == EXIT_FAILED
    assert main([*args, "--out", str(tmp_path / "beam"), *RUNNER]) == EXIT_FAILED
    reports = [json.loads((tmp_path / d / "report.json").read_text()) for d in ("local", "beam")]
    assert reports[0]["findings"] == reports[1]["findings"]
    assert reports[0]["leakage"] == reports[1]["leakage"]
    overlap = next(f for f in reports[1]["findings"] if f["check"] == "leakage.group_overlap")
    assert overlap["count"] >= 7


def _records(source):
    return {
        s.name: [
            (bytes(p), int(label), i.decode()) for p, label, i in s.records.as_numpy_iterator()
        ]
        for s in source.splits
    }


@pytest.mark.parametrize("layout", ["splits", "classes"])
def test_file_patterns_list_a_tree_as_the_local_reader_does(tmp_path, digits, layout):
    """Beam's FileSystems listing (ROOT/**): same splits, classes, ids, labels and order."""
    x, y = digits
    root = tmp_path / "tree"
    top = [root / "train", root / "test"] if layout == "splits" else [root]
    for k in range(40):
        base = top[k % len(top)] / f"c{y[k]}"
        nested = base / "sub" / "deeper" if k % 5 == 0 else base / ("b" if k % 3 else "")
        save_image(x[k], nested / f"{k:02d}.png")
    (top[0] / f"c{y[0]}" / ".hidden.png").write_bytes(b"x")
    (top[0] / f"c{y[0]}" / "notes.txt").write_text("not an image")
    (root / "out").mkdir()  # an earlier report folder inside the tree is skipped
    (root / "out" / "report.json").write_text("{}")
    save_image(x[0], root / "out" / "c0" / "thumb.png")
    local, remote = open_source(str(root)), load_remote(str(root))
    assert remote.reader == {"filesystem": "beam"}
    assert remote.class_names == local.class_names
    assert dict(remote.split_class_names) == dict(local.split_class_names)
    assert _records(remote) == _records(local)


def test_manifest_files_are_read_by_the_workers_with_beam(planted, tmp_path):
    """A manifest opened through Beam's FileSystems: workers fetch the bytes themselves.

    Relative and absolute paths, a missing file and an empty one: the same rows
    (errors included) and pairs as the local reader.
    """
    data = tmp_path / "data"
    shutil.copytree(planted, data)
    files = sorted(data.rglob("*.png"))[::3]
    (data / "empty.png").write_bytes(b"")
    rows = [
        (str(p if k % 2 else p.relative_to(data)), p.parent.name, p.parts[-3])
        for k, p in enumerate(files)
    ]
    rows += [("empty.png", "0", "test"), ("gone/missing.png", "1", "test")]
    manifest = data / "manifest.csv"
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(manifest, index=False)
    remote = load_remote(str(manifest))
    assert _records(remote) == _records(open_source(str(manifest)))
    table, _ = _same_rows_and_pairs(manifest, tmp_path, remote)
    errors = dict(zip(table["id"], table["error_kind"], strict=True))
    assert errors["empty.png"] == "empty_file" and errors["gone/missing.png"] == "missing_file"
    assert len(table) == len(rows)


def test_remote_locations_need_a_runner(tmp_path, capsys):
    out = ["--out", str(tmp_path / "o"), "--no-cache", "-q"]
    assert main(["check", "gs://bucket/tree", *out]) == EXIT_USAGE
    assert "read through Apache Beam" in capsys.readouterr().err
    assert main(["check", "nosuch://bucket/tree", *out, *RUNNER]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "nosuch://bucket/tree: cannot list" in err and "Traceback" not in err
