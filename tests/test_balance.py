"""Class balance on real MNIST digits: planted imbalance, shift and mapping faults; clean splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from audit.checks.balance import find_balance, prior_shift
from audit.config import BalanceConfig
from audit.sample_data import save_image
from pipelines.sources import from_arrays, open_source
from tests.helpers import alarms, audit_findings, random_split


def test_clean_random_splits_raise_no_data_alarm(mnist):
    """5,000 MNIST digits and sklearn's 1,797 digits split at random: no balance,
    normalization or drift warning."""
    x, y = mnist
    assert alarms(audit_findings(from_arrays(random_split(x, y, 3500, 1500, seed=1)))) == {}
    digits = load_digits()
    images = np.round(digits.images * 255 / 16).astype(np.uint8)
    sk = random_split(images, digits.target, 1300, 497, seed=2)
    assert alarms(audit_findings(from_arrays(sk))) == {}
    scaled = {
        k: (x / 16.0, y)
        for k, (x, y) in random_split(digits.images, digits.target, 1300, 497).items()
    }
    assert alarms(audit_findings(from_arrays(scaled))) == {}


def _half_the_classes(mnist_split):
    """Train with 90% of its images in classes 0-4."""
    x, y = mnist_split["train"]
    low = np.where(y < 5)[0]
    high = np.where(y >= 5)[0][: len(low) // 9]
    keep = np.concatenate([low, high])
    return {"train": (x[keep], y[keep]), "test": mnist_split["test"]}


def test_ninety_percent_of_train_in_half_the_classes(mnist_split):
    found = audit_findings(from_arrays(_half_the_classes(mnist_split)))
    assert found["balance.prior_shift"] == "error"
    assert found["balance.imbalance"] == "warning"
    assert "balance.missing_class" not in found


def test_prior_shift_needs_significance_and_size():
    """The same shares are quiet on 40 images and loud on 4,000; a tiny shift on a huge set
    is significant but too small to matter."""
    skewed, flat = np.array([6, 4] * 5, float), np.array([5, 5] * 5, float)
    p_small, d_small = prior_shift(flat * 2, skewed * 2)
    p_big, d_big = prior_shift(flat * 200, skewed * 200)
    assert d_small == pytest.approx(d_big)
    assert p_small > 0.5 and p_big < 1e-6
    cfg = BalanceConfig()
    assert d_big < cfg.jsd_warning  # 60/40 within pairs of classes: significant, not material
    p_huge, d_huge = prior_shift(flat * 10**5, skewed * 10**5)
    assert p_huge < cfg.p_value and d_huge < cfg.jsd_warning


def test_class_missing_from_test_is_an_error(mnist_split):
    x, y = mnist_split["test"]
    splits = {"train": mnist_split["train"], "test": (x[y != 3], y[y != 3])}
    findings = find_balance(_table(splits), BalanceConfig())
    by_check = {f.check: f for f in findings}
    missing = by_check["balance.missing_class"]
    assert missing.severity == "error"
    assert missing.evidence["class"] == "3" and missing.evidence["absent_from"] == ["test"]
    assert "balance.prior_shift" not in by_check  # the missing class is not counted twice


def _table(splits):
    from audit.config import ProfileConfig
    from pipelines.profile import profile_source

    return profile_source(from_arrays(splits), ProfileConfig())


def _tree(root, mnist_split, rename=None):
    """ROOT/<split>/<class>/<n>.png of 60 train and 30 test digits; ``rename`` test folders."""
    rename = rename or {}
    for split, n in (("train", 60), ("test", 30)):
        x, y = mnist_split[split]
        for k in range(n):
            name = str(y[k])
            folder = rename.get(name, name) if split == "test" else name
            save_image(x[k], root / split / folder / f"{k:03d}.png")
    return root


def test_renamed_class_folder_shifts_labels(tmp_path, mnist_split):
    """test/3 renamed to test/three: Keras per-split loading gives classes 4-9 other labels."""
    root = _tree(tmp_path, mnist_split, rename={"3": "three"})
    findings = {f.check: f for f in run_findings(root)}
    shift = findings["balance.class_index_shift"]
    assert shift.severity == "error"
    assert shift.evidence["shifted"]["4"] == [4, 3]
    assert "'4' 4 -> 3" in shift.message
    missing = findings["balance.missing_class"]
    assert missing.severity == "error"


def test_same_class_folders_do_not_shift(tmp_path, mnist_split):
    root = _tree(tmp_path, mnist_split)
    checks = {f.check for f in run_findings(root)}
    assert "balance.class_index_shift" not in checks
    assert "balance.label_mapping_mismatch" not in checks


def run_findings(root):
    from audit.run import run_check

    return run_check(open_source(str(root))).result.findings


def _manifest(root, mnist_split, test_index):
    """A manifest with integer labels and class names; ``test_index`` numbers test's classes."""
    rows = []
    for split, n in (("train", 60), ("test", 30)):
        x, y = mnist_split[split]
        for k in range(n):
            path = f"{split}/{k:03d}.png"
            save_image(x[k], root / path)
            label = int(y[k]) if split == "train" else test_index(int(y[k]))
            rows.append(
                {"path": path, "label": label, "class_name": f"digit{y[k]}", "split": split}
            )
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def test_reordered_label_indices_in_a_manifest(tmp_path, mnist_split):
    """Test numbers the classes in reverse: the same name maps to two indices."""
    manifest = _manifest(tmp_path, mnist_split, lambda d: 9 - d)
    findings = {f.check: f for f in run_findings(manifest)}
    mismatch = findings["balance.label_mapping_mismatch"]
    assert mismatch.severity == "error"
    assert mismatch.evidence["labels_by_class_and_split"]["digit2"] == {"train": [2], "test": [7]}


def test_consistent_label_indices_in_a_manifest(tmp_path, mnist_split):
    manifest = _manifest(tmp_path, mnist_split, lambda d: d)
    assert "balance.label_mapping_mismatch" not in {f.check for f in run_findings(manifest)}


def test_small_imbalanced_looking_split_is_not_flagged():
    """5 against 1 image is chance, not imbalance (goodness-of-fit test)."""
    counts = pd.DataFrame({"a": [5], "b": [1]}, index=["train"])
    from audit.checks.balance import _imbalance

    assert _imbalance(counts, BalanceConfig()) == []
    assert len(_imbalance(counts * 100, BalanceConfig())) == 1
