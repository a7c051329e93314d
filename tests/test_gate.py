"""The gate from the command line: suites, exit codes, the terminal summary and junit.xml."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from audit.cli import EXIT_FAILED, EXIT_PASSED, EXIT_USAGE, main
from expectations.suite import default_suite_text


def _npz(path, splits):
    arrays = {}
    for name, (x, y) in splits.items():
        arrays[f"x_{name}"], arrays[f"y_{name}"] = x, y
    np.savez(path, **arrays)
    return path


def _failed_cases(junit_path):
    root = ET.parse(junit_path).getroot()
    return {case.get("name") for case in root.iter("testcase") if case.find("failure") is not None}


def _check(src, out, *extra):
    return main(["check", str(src), "--out", str(out), "--no-cache", *extra])


def _faults(mnist_split):
    (xtr, ytr), (xte, yte) = mnist_split["train"], mnist_split["test"]
    copies = np.concatenate([xte[:-10], xtr[:10]])
    relabelled = np.concatenate([yte[:-10], (ytr[:10] + 1) % 10])
    keep = ytr < 5
    keep |= np.arange(len(ytr)) % 4 == 0  # a quarter of classes 5-9: Jensen-Shannon 0.27
    return {
        "cross-split duplicate": (
            {"train": (xtr, ytr), "test": (copies, np.concatenate([yte[:-10], ytr[:10]]))},
            "no_cross_split_duplicates",
            "leakage",
        ),
        "label conflict": (
            {"train": (xtr, ytr), "test": (copies, relabelled)},
            "no_label_conflicts",
            "leakage",
        ),
        "missing class": (
            {"train": (xtr, ytr), "test": (xte[yte != 3], yte[yte != 3])},
            "every_class_in_every_split",
            "balance",
        ),
        "0-255 vs 0-1": (
            {"train": (xtr / 255.0, ytr), "test": (xte.astype(np.float64), yte)},
            "value_scales_agree",
            "normalization",
        ),
        "prior shift": (
            {"train": (xtr[keep], ytr[keep]), "test": (xte, yte)},
            "prior_shift_below_bound",
            None,
        ),
    }


FAULTS = ["cross-split duplicate", "label conflict", "missing class", "0-255 vs 0-1", "prior shift"]


def test_clean_data_passes(tmp_path, mnist_split, capsys):
    src = _npz(tmp_path / "clean.npz", mnist_split)
    assert _check(src, tmp_path / "out") == EXIT_PASSED
    printed = capsys.readouterr().out
    assert "PASSED" in printed and "10/10 expectations met" in printed
    assert _failed_cases(tmp_path / "out" / "junit.xml") == set()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["gate"] == {**report["gate"], "passed": True, "failed_expectations": []}
    validation = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert validation["success"] is True and set(validation["tables"]) == {"images", "splits"}


@pytest.mark.parametrize("fault", FAULTS)
def test_planted_fault_fails_the_named_expectation(fault, tmp_path, mnist_split, capsys):
    splits, expectation, family = _faults(mnist_split)[fault]
    src = _npz(tmp_path / "data.npz", splits)
    assert _check(src, tmp_path / "out") == EXIT_FAILED
    printed = capsys.readouterr().out
    assert f"failed expectation {expectation}" in printed
    failed = _failed_cases(tmp_path / "out" / "junit.xml")
    assert expectation in failed
    if family:
        assert family in failed  # the finding family's test case fails too
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert expectation in report["gate"]["failed_expectations"]
    assert report["gate"]["passed"] is False


def test_corrupt_files_fail_the_readable_expectation(broken_tree, tmp_path, capsys):
    root, _ = broken_tree
    assert _check(root, tmp_path / "out") == EXIT_FAILED
    assert "failed expectation readable_images" in capsys.readouterr().out
    failed = _failed_cases(tmp_path / "out" / "junit.xml")
    assert {"readable_images", "integrity"} <= failed


def test_looser_user_suite_lets_the_same_data_pass(tmp_path, mnist_split, capsys):
    """A prior shift of 0.27 fails the default bound of 0.2; a suite allowing 0.35 passes it."""
    splits, _, _ = _faults(mnist_split)["prior shift"]
    src = _npz(tmp_path / "data.npz", splits)
    assert _check(src, tmp_path / "strict") == EXIT_FAILED
    suite_path = tmp_path / "suite.json"
    assert main(["suite", "init", str(suite_path)]) == EXIT_PASSED
    suite = json.loads(suite_path.read_text())
    assert suite == json.loads(default_suite_text())
    for expectation in suite["expectations"]:
        if expectation["meta"]["name"] == "prior_shift_below_bound":
            expectation["kwargs"]["max_value"] = 0.35
    suite_path.write_text(json.dumps(suite))
    capsys.readouterr()
    assert _check(src, tmp_path / "loose", "--suite", str(suite_path)) == EXIT_PASSED
    assert "PASSED" in capsys.readouterr().out
    # the warning finding is still reported, and --fail-on warning fails on it
    assert (
        _check(src, tmp_path / "warn", "--suite", str(suite_path), "--fail-on", "warning")
        == EXIT_FAILED
    )
    assert _failed_cases(tmp_path / "warn" / "junit.xml") == {"balance"}


def test_suite_init_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "suite.json"
    path.write_text("{}")
    assert main(["suite", "init", str(path)]) == EXIT_USAGE
    assert "pass --force" in capsys.readouterr().err
    assert main(["suite", "init", str(path), "--force"]) == EXIT_PASSED
    assert json.loads(path.read_text())["name"] == "leakage-audit-default"


@pytest.mark.parametrize(
    ("suite_text", "message"),
    [
        (None, "suite file not found"),
        ("{not json", "not valid JSON"),
        (
            '{"expectations": [{"type": "expect_column_values_to_be_between", '
            '"kwargs": {"column": "nope"}, "meta": {"table": "splits"}}]}',
            "has no column 'nope'",
        ),
        (
            '{"expectations": [{"type": "expect_nothing_at_all", "kwargs": {}, '
            '"meta": {"table": "images"}}]}',
            "expect_nothing_at_all not found",
        ),
        (
            '{"expectations": [{"type": "expect_table_row_count_to_equal", '
            '"kwargs": {"value": 1}}]}',
            "meta.table must be one of",
        ),
    ],
    ids=["missing", "bad-json", "unknown-column", "unknown-type", "no-table"],
)
def test_bad_suite_exits_2_with_one_line(suite_text, message, tmp_path, mnist_split, capsys):
    src = _npz(tmp_path / "data.npz", mnist_split)
    suite = tmp_path / "suite.json"
    if suite_text is not None:
        suite.write_text(suite_text)
    assert _check(src, tmp_path / "out", "--suite", str(suite)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "report.json").exists()
