"""The Parquet profile cache: re-runs read it, changes invalidate it, --no-cache skips it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


_CACHED_PROFILE = """
import json, sys
from audit.config import ProfileConfig
from pipelines.cache import profile_cached
from pipelines.sources import open_source
from pathlib import Path
table, hit = profile_cached(open_source(sys.argv[1]), ProfileConfig(), Path(sys.argv[2]))
print(json.dumps({"rows": len(table), "hit": hit, "tensorflow": "tensorflow" in sys.modules}))
"""


def _profile_in_fresh_process(root: Path, cache: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CACHED_PROFILE, str(root), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_cached_profile_never_loads_tensorflow(tmp_path, digits):
    """A re-run whose profile is cached skips TensorFlow's import (2 to 5 s of it).

    Opening a directory tree and reading its cached table need neither
    TensorFlow nor the profiler; the first run must load them.
    """
    root = _tree(tmp_path / "data", digits)
    first = _profile_in_fresh_process(root, tmp_path / "c")
    second = _profile_in_fresh_process(root, tmp_path / "c")
    assert first == {"rows": 12, "hit": False, "tensorflow": True}
    assert second == {"rows": 12, "hit": True, "tensorflow": False}
