"""The Parquet profile cache: re-runs read it, changes invalidate it, --no-cache skips it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from audit.config import ProfileConfig
from audit.sample_data import save_image
from pipelines.cache import profile_cached
from pipelines.sources import open_source


def _tree(root, digits, n=12):
    x, y = digits
    for k in range(n):
        save_image(x[k], root / "train" / str(y[k]) / f"{k}.png")
    return root


def test_second_run_reads_the_cache(tmp_path, digits):
    root = _tree(tmp_path / "data", digits)
    cache = tmp_path / "cache"
    first, hit1 = profile_cached(open_source(str(root)), ProfileConfig(), cache)
    second, hit2 = profile_cached(open_source(str(root)), ProfileConfig(), cache)
    assert (hit1, hit2) == (False, True)
    pd.testing.assert_frame_equal(first, second)
    assert len(list(cache.glob("*.parquet"))) == 1


def test_a_changed_file_invalidates_the_cache(tmp_path, digits):
    root = _tree(tmp_path / "data", digits)
    cache = tmp_path / "cache"
    first, _ = profile_cached(open_source(str(root)), ProfileConfig(), cache)
    victim = next(root.rglob("*.png"))
    save_image(digits[0][40], victim)
    os.utime(victim, ns=(1, 1))
    second, hit = profile_cached(open_source(str(root)), ProfileConfig(), cache)
    assert not hit
    ident = victim.relative_to(root).as_posix()
    before = first.set_index("id").loc[ident, "content_hash"]
    assert second.set_index("id").loc[ident, "content_hash"] != before


def test_no_cache_dir_means_no_cache(tmp_path, digits):
    root = _tree(tmp_path / "data", digits)
    _, hit1 = profile_cached(open_source(str(root)), ProfileConfig(), None)
    _, hit2 = profile_cached(open_source(str(root)), ProfileConfig(), None)
    assert (hit1, hit2) == (False, False)


_RUN_CHECK = """
import json, sys
from audit.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules}))
"""


def _check_in_fresh_process(args: list[str]) -> tuple[dict, str]:
    """``leakage-audit check ARGS`` in a new Python process: (exit code, TF loaded), stderr."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", _RUN_CHECK, "check", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_cached_check_never_loads_tensorflow(tmp_path, digits):
    """A re-run whose profile is cached skips TensorFlow's import (about 2 s of it).

    The first run must load it, quietly: TensorFlow's absl start-up lines are
    kept off stderr wherever in the run it is first imported.
    """
    root = _tree(tmp_path / "data", digits)
    args = [str(root), "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "-q"]
    first, first_err = _check_in_fresh_process(args)
    report = (tmp_path / "out" / "report.json").read_text()
    second, second_err = _check_in_fresh_process(args)
    assert first == {"code": 0, "tensorflow": True}
    assert second == {"code": 0, "tensorflow": False}
    assert "absl" not in first_err and "oneDNN" not in first_err, first_err
    assert second_err == ""
    same = json.loads((tmp_path / "out" / "report.json").read_text())
    assert same["leakage"] == json.loads(report)["leakage"]
    assert same["findings"] == json.loads(report)["findings"]
