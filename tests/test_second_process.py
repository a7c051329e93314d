"""Profiling in a second process: the same table, the user's errors, failures, stopping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from audit.config import ProfileConfig
from audit.errors import UserError
from pipelines.cache import profile_cached
from pipelines.progress import NullProgress
from pipelines.second_process import ProfileProcess, ProfileProcessError, SourceSpec
from pipelines.sources import open_source


def _exploding_progress() -> NullProgress:
    raise RuntimeError("boom: a bug, not the user's input")


def _dying_progress() -> NullProgress:
    os._exit(3)


def _table(spec: SourceSpec, cache: Path | None = None, progress=NullProgress):
    with ProfileProcess(spec, ProfileConfig(), cache, progress) as process:
        return process.table()


def test_the_second_process_profiles_exactly_as_this_one(digit_tree, tmp_path):
    here, _ = profile_cached(open_source(str(digit_tree)), ProfileConfig(), None)
    there, hit = _table(SourceSpec(str(digit_tree)))
    assert not hit
    pd.testing.assert_frame_equal(there, here)


def test_the_second_process_reads_and_fills_the_cache(digit_tree, tmp_path):
    cache = tmp_path / "cache"
    first, first_hit = _table(SourceSpec(str(digit_tree)), cache)
    second, second_hit = _table(SourceSpec(str(digit_tree)), cache)
    assert (first_hit, second_hit) == (False, True)
    pd.testing.assert_frame_equal(first, second)
    _, hit_here = profile_cached(open_source(str(digit_tree)), ProfileConfig(), cache)
    assert hit_here  # the same cache entry the first process would have written


def test_a_problem_with_the_input_is_the_users_error(tmp_path):
    with pytest.raises(UserError, match="no such file or directory"):
        _table(SourceSpec(str(tmp_path / "missing")))


@pytest.mark.parametrize(
    ("progress", "message"),
    [(_exploding_progress, "boom: a bug"), (_dying_progress, "exit code 3 and no reply")],
    ids=["exception", "process-died"],
)
def test_other_failures_are_reported_as_the_process_failing(digit_tree, progress, message):
    with pytest.raises(ProfileProcessError, match=message):
        _table(SourceSpec(str(digit_tree)), progress=progress)


def test_leaving_early_stops_the_process_and_removes_its_files(digit_tree):
    process = ProfileProcess(SourceSpec(str(digit_tree)), ProfileConfig(), None, NullProgress)
    folder = process._job.table_path.parent
    assert process._process.poll() is None and folder.is_dir()
    process.close()
    assert process._process.returncode is not None and not folder.exists()


_RUN_CHECK = """
import json, sys
from audit.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules}))
"""


_WARM = "import audit.run, expectations.validate, great_expectations, pipelines.sources\n"
"""What a fresh process imports up front to be ready long before its second process."""


def _check_in_fresh_process(args: list[str], warm: bool = False) -> tuple[dict, str]:
    """``leakage-audit check ARGS`` in a new Python process: (exit code, TF loaded), stderr."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", (_WARM if warm else "") + _RUN_CHECK, "check", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_check_profiles_in_a_second_process_with_the_same_report(tmp_path, digit_tree):
    """A fresh ``check`` never loads TensorFlow itself: the second process profiles.

    TensorFlow's absl start-up lines stay off stderr there too, and the
    report is the one that profiling in the one process gives.
    """
    one = tmp_path / "one.toml"
    one.write_text("[profile]\nsecond_process = false\n")
    reports = {}
    for name, extra in [("two", []), ("one", ["--config", str(one)])]:
        args = [str(digit_tree), "--out", str(tmp_path / name), "--no-cache", "-q", *extra]
        found, err = _check_in_fresh_process(args)
        assert found == {"code": 0, "tensorflow": name == "one"}
        assert "absl" not in err and "oneDNN" not in err, err
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())
    for key in ("dataset", "findings", "leakage", "balance", "normalization", "gate", "drift"):
        assert reports["two"][key] == reports["one"][key], key


def test_the_cli_profiles_itself_when_the_second_process_fails(capsys):
    from audit.cli import _profiled

    class Failed:
        def table(self):
            raise ProfileProcessError("it ended with exit code 3 and no reply")

    assert _profiled(Failed()) is None
    assert capsys.readouterr().err == (
        "leakage-audit: note: the profiling process failed "
        "(it ended with exit code 3 and no reply); profiling here\n"
    )


def test_an_out_folder_inside_the_dataset_is_not_read_as_a_split(tmp_path, digits):
    """The first process creates --out only after the second has listed the dataset.

    The first process imports everything before it starts, so it would create
    --out before the second process has even started Python.
    """
    from audit.sample_data import save_image

    x, y = digits
    for k in range(20):
        save_image(
            x[k], tmp_path / "data" / ("train" if k < 14 else "test") / f"{y[k]}" / f"{k}.png"
        )
    args = [str(tmp_path / "data"), "--out", str(tmp_path / "data" / "out"), "--no-cache", "-q"]
    for _ in range(2):  # the second run finds the report folder there
        found, err = _check_in_fresh_process(args, warm=True)
        assert found["code"] in (0, 1) and not found["tensorflow"], err  # 2: a usage error
        report = json.loads((tmp_path / "data" / "out" / "report.json").read_text())
        assert report["dataset"]["splits"] == {"train": 14, "test": 6}
