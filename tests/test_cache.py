"""The Parquet profile cache: re-runs read it, changes invalidate it, --no-cache skips it."""

from __future__ import annotations

import os

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
