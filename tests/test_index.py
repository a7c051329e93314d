"""Incremental checks for ingestion: index a dataset, check new batches against it, append."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from audit.cli import EXIT_FAILED, EXIT_PASSED, EXIT_USAGE, main
from audit.sample_data import save_image
from pipelines.dataset_index import load_index


@pytest.fixture()
def indexed(tmp_path, mnist, mnist_split):
    """An index of the clean MNIST split (1,000 train, 500 test) as an npz dataset."""
    arrays = {}
    for name, (x, y) in mnist_split.items():
        arrays[f"x_{name}"], arrays[f"y_{name}"] = x, y
    np.savez(tmp_path / "data.npz", **arrays)
    index = tmp_path / "index"
    assert main(["index", "build", str(tmp_path / "data.npz"), "--out", str(index), "-q"]) == 0
    return index


def _batch(root, images, labels):
    """A new batch as ROOT/<class>/<n>.png (one split, ``all``)."""
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        save_image(image, root / str(label) / f"new-{k:03d}.png")
    return root


def _noisy(image, seed):
    noise = np.random.default_rng(seed).normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _rotated(image, degrees):
    from PIL import Image

    turned = Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR)
    return np.asarray(turned)


def _unindexed(mnist, mnist_split, n):
    """``n`` real digits that are in neither split of the index."""
    x, y = mnist
    used = {a.tobytes() for split in mnist_split.values() for a in split[0]}
    fresh = [k for k in range(len(x)) if x[k].tobytes() not in used][:n]
    return x[fresh], y[fresh]


def test_batch_with_copies_of_indexed_test_images_fails(
    indexed, tmp_path, mnist, mnist_split, capsys
):
    xte, yte = mnist_split["test"]
    fresh_x, fresh_y = _unindexed(mnist, mnist_split, 20)
    images = np.concatenate([fresh_x, xte[:5], [_noisy(xte[k], k) for k in range(5, 10)]])
    labels = np.concatenate([fresh_y, yte[:10]])
    batch = _batch(tmp_path / "batch", images, labels)
    out = tmp_path / "out"
    code = main(["check", str(batch), "--against", str(indexed), "--out", str(out), "--no-cache"])
    assert code == EXIT_FAILED
    assert "failed expectation no_duplicates_of_indexed_images" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["check"] == "leakage.indexed_duplicate")
    assert finding["severity"] == "error"
    assert finding["evidence"]["per_indexed_split"] == {"test": 10}
    kinds = {p["new"]: p["kind"] for p in finding["evidence"]["pairs"]}
    expected = {f"{yte[k]}/new-{20 + k:03d}.png": "exact" if k < 5 else "near" for k in range(10)}
    assert kinds == expected
    indexed_ids = {p["indexed"] for p in finding["evidence"]["pairs"]}
    assert indexed_ids == {f"test/{k}" for k in range(10)}
    junit = ET.parse(out / "junit.xml").getroot()
    failed = {c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None}
    assert {"no_duplicates_of_indexed_images", "leakage"} <= failed


def test_batch_profiled_on_beam_is_checked_against_the_index_as_locally(
    indexed, tmp_path, mnist, mnist_split
):
    """``check --against INDEX --runner DirectRunner``: the local report, findings and pairs."""
    xte, yte = mnist_split["test"]
    fresh_x, fresh_y = _unindexed(mnist, mnist_split, 20)
    images = np.concatenate([fresh_x, xte[:4], [_noisy(xte[k], k) for k in range(4, 8)]])
    batch = _batch(tmp_path / "batch", images, np.concatenate([fresh_y, yte[:8]]))
    reports = []
    for name, extra in (("local", []), ("beam", ["--runner", "DirectRunner"])):
        out = tmp_path / name
        args = ["check", str(batch), "--against", str(indexed), "--out", str(out), "-q"]
        assert main([*args, "--no-cache", *extra]) == EXIT_FAILED
        reports.append(json.loads((out / "report.json").read_text()))
    assert reports[0]["findings"] == reports[1]["findings"]
    assert reports[0]["leakage"] == reports[1]["leakage"]
    finding = next(f for f in reports[1]["findings"] if f["check"] == "leakage.indexed_duplicate")
    assert finding["evidence"]["per_indexed_split"] == {"test": 8}


def test_rotated_and_cropped_copies_of_indexed_images_are_refused(
    indexed, tmp_path, mnist, mnist_split
):
    from PIL import Image

    xtr, ytr = mnist_split["train"]
    fresh_x, fresh_y = _unindexed(mnist, mnist_split, 30)
    bilinear = Image.Resampling.BILINEAR
    rotated = [_rotated(xtr[k], 6) for k in range(5)]
    cropped = [
        np.asarray(Image.fromarray(xtr[k][3:-3, 3:-3]).resize((28, 28), bilinear))
        for k in range(5, 10)
    ]
    images = np.concatenate([fresh_x, rotated, cropped])
    batch = _batch(tmp_path / "batch", images, np.concatenate([fresh_y, ytr[:10]]))
    out = tmp_path / "out"
    code = main(["check", str(batch), "--against", str(indexed), "--out", str(out), "-q"])
    assert code == EXIT_FAILED
    report = json.loads((out / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["check"] == "leakage.indexed_duplicate")
    found = {(p["new"], p["indexed"]) for p in finding["evidence"]["pairs"]}
    planted = {(f"{ytr[k]}/new-{30 + k:03d}.png", f"train/{k}") for k in range(10)}
    assert len(found & planted) >= 9 and found <= planted


def test_batch_of_new_images_passes_and_is_appended(indexed, tmp_path, mnist, mnist_split, capsys):
    fresh_x, fresh_y = _unindexed(mnist, mnist_split, 40)
    batch = _batch(tmp_path / "batch", fresh_x, fresh_y)
    args = ["check", str(batch), "--against", str(indexed), "--no-cache", "-q"]
    assert main([*args, "--out", str(tmp_path / "first")]) == EXIT_PASSED
    add = ["index", "add", str(indexed), str(batch), "--split", "train", "--prefix", "batch1/"]
    assert main([*add, "--no-cache"]) == EXIT_PASSED
    assert "holds 1540 images (train=1040, test=500)" in capsys.readouterr().out
    index = load_index(indexed)
    assert len(index.table) == index.hashes.ntotal == index.neighbours.size == 1540
    assert index.meta["batches"][-1]["images"] == 40
    assert "batch1/" + f"{fresh_y[0]}/new-000.png" in set(index.table["id"])
    # the same batch again now duplicates what was just added, exactly
    assert main([*args, "--out", str(tmp_path / "again")]) == EXIT_FAILED
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["check"] == "leakage.indexed_duplicate")
    assert finding["count"] == 40 and finding["evidence"]["per_indexed_split"] == {"train": 40}
    # adding it twice would duplicate ids: refused with a clear line
    assert main([*add, "--no-cache"]) == EXIT_USAGE
    assert "already in the index" in capsys.readouterr().err
    # the appended rows' descriptors sit at their rows: turned copies point at them
    turned = [_rotated(fresh_x[k], 6) for k in range(5)]
    later = _batch(tmp_path / "turned", turned, fresh_y[:5])
    args = ["check", str(later), "--against", str(indexed), "--no-cache", "-q"]
    assert main([*args, "--out", str(tmp_path / "turned-out")]) == EXIT_FAILED
    report = json.loads((tmp_path / "turned-out" / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["check"] == "leakage.indexed_duplicate")
    found = {(p["new"], p["indexed"]) for p in finding["evidence"]["pairs"]}
    planted = {
        (f"{fresh_y[k]}/new-{k:03d}.png", f"batch1/{fresh_y[k]}/new-{k:03d}.png") for k in range(5)
    }
    assert len(found & planted) >= 4 and found <= planted


def test_missing_or_broken_index_exits_2(tmp_path, indexed, capsys):
    batch = tmp_path / "batch"
    save_image(np.zeros((28, 28), np.uint8), batch / "0" / "a.png")
    assert (
        main(
            ["check", str(batch), "--against", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
        )
        == EXIT_USAGE
    )
    assert "not a leakage-audit index" in capsys.readouterr().err
    meta = json.loads((indexed / "index.json").read_text())
    meta["images"] += 1
    (indexed / "index.json").write_text(json.dumps(meta))
    assert (
        main(["check", str(batch), "--against", str(indexed), "--out", str(tmp_path / "o")])
        == EXIT_USAGE
    )
    err = capsys.readouterr().err
    assert "index files disagree" in err and "Traceback" not in err
    # an index written before descriptors were kept: they are computed on load
    meta["images"] -= 1
    (indexed / "index.json").write_text(json.dumps(meta))
    (indexed / "inner.faiss").unlink()
    assert load_index(indexed).neighbours.size == 1500
    assert main(["index", "build", str(batch), "--out", str(indexed), "-q"]) == EXIT_USAGE
    assert "already holds an index" in capsys.readouterr().err
