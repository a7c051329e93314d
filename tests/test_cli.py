"""The command line: exit codes, report.json against its schema, clear one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import pandas as pd
import pytest

from audit.cli import EXIT_FAILED, EXIT_PASSED, EXIT_USAGE, main
from reports.json import report_schema


def _run(*args: str) -> int:
    return (
        main(["check", *args, "-q", "--no-cache"]) if args[0] != "profile" else main([*args, "-q"])
    )


def test_clean_dataset_passes_with_a_valid_report(digit_tree, tmp_path):
    out = tmp_path / "out"
    assert _run(str(digit_tree), "--out", str(out)) == EXIT_PASSED
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["gate"] == {
        "passed": True,
        "failed_expectations": [],
        "fail_on": "error",
        "failed_checks": [],
    }
    assert report["dataset"]["splits"] == {"train": 100, "test": 50}
    assert report["dataset"]["classes"] == [str(i) for i in range(10)]
    assert report["findings"] == [] and report["attribution"] is None
    assert sum(report["balance"]["train"]["class_counts"].values()) == 100
    assert report["normalization"]["test"]["dtypes"] == ["uint8"]


def test_broken_files_fail_the_gate_and_are_named(broken_tree, tmp_path, capsys):
    root, broken = broken_tree
    out = tmp_path / "out"
    assert main(["check", str(root), "--out", str(out), "--no-cache"]) == EXIT_FAILED
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    checks = {f["check"] for f in report["findings"] if f["check"].startswith("integrity.")}
    assert checks == {f"integrity.{k}" for k in broken}
    assert report["gate"]["passed"] is False
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "truncated.jpg" in printed
    # the report folder sits inside the dataset: a second run must not read it as a split
    assert main(["check", str(root), "--out", str(out), "--no-cache", "-q"]) == EXIT_FAILED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "/no/such/dataset"], "/no/such/dataset: no such file or directory"),
        (["check", "{tmp}/notes.txt"], "cannot tell the format"),
        (["check", "{tmp}/empty_split"], "split holds no images"),
        (["check", "{tmp}/bad.npz"], "not a readable .npz"),
        (["check", "{tmp}/empty_split", "--config", "{tmp}/missing.toml"], "config file not found"),
    ],
    ids=["missing-path", "unknown-format", "empty-split", "bad-npz", "missing-config"],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys, args, message, digits):
    from audit.sample_data import save_image

    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "bad.npz").write_text("not a zip")
    save_image(digits[0][0], tmp_path / "empty_split" / "train" / "1" / "a.png")
    (tmp_path / "empty_split" / "test" / "1").mkdir(parents=True)
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args] + [
        "--out",
        str(out),
        "-q",
        "--no-cache",
    ]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("leakage-audit: error:") and message in err[0]
    assert not (out / "report.json").exists()


def test_console_script_prints_no_traceback_and_no_tensorflow_noise(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", "check", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.strip().splitlines() == [
        f"leakage-audit: error: {tmp_path / 'missing'}: no such file or directory"
    ]


def test_console_script_flushes_what_it_printed_before_its_quick_exit(tmp_path):
    """``entry`` skips the interpreter's teardown: buffered output must still arrive."""
    target = tmp_path / "suite.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", "suite", "init", str(target)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == EXIT_PASSED
    assert proc.stdout.startswith(f"wrote the default suite to {target}")
    assert json.loads(target.read_text())["expectations"]


def test_profile_command_writes_parquet(digit_npz, tmp_path):
    out = tmp_path / "out"
    assert main(["profile", str(digit_npz), "--out", str(out), "-q", "--no-cache"]) == EXIT_PASSED
    table = pd.read_parquet(out / "profile.parquet")
    assert len(table) == 150 and table["phash"].dtype == "uint64"


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("profile", "check", "demo"):
        assert command in text


def test_demo_writes_a_report_naming_the_broken_files(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--data", str(tmp_path / "data"), "-q"]) == EXIT_PASSED
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    named = " ".join(f["message"] for f in report["findings"])
    for name in ("corrupt.png", "empty.png", "notes.png", "truncated.jpg"):
        assert name in named
    assert report["dataset"]["splits"]["train"] == 700
    findings = {f["check"]: f for f in report["findings"]}
    copies = set(findings["leakage.cross_split_duplicate"]["evidence"]["copies_to_drop"])
    exact = {p["b"] for p in report["leakage"]["pairs"] if p["kind"] == "exact"}
    assert len(exact) == 20 and exact <= copies  # 15 plain copies and 5 relabelled ones
    assert all("/copy-" in c or "/relabel-" in c or "/edit-" in c for c in copies)
    assert findings["leakage.label_conflict"]["count"] == 5


def test_group_pattern_flag_fails_the_gate(tmp_path, digits):
    from audit.sample_data import save_image

    x, _ = digits
    files = [("train", "p1_a.png"), ("test", "p1_b.png"), ("test", "p2_a.png")]
    for k, (split, name) in enumerate(files):
        save_image(x[k], tmp_path / "data" / split / "c" / name)
    out = tmp_path / "out"
    args = ["check", str(tmp_path / "data"), "--out", str(out), "-q", "--no-cache"]
    assert main(args) == EXIT_PASSED
    assert main([*args, "--group-pattern", r"(p\d+)_"]) == EXIT_FAILED
    report = json.loads((out / "report.json").read_text())
    assert report["gate"]["failed_checks"] == ["leakage.group_overlap"]
