"""Parquet cache of ImageTables, keyed by a fingerprint of the source.

A re-run over an unchanged dataset reads the table instead of decoding every
image again. The key covers the source's content fingerprint, the profile
format version and the profiling settings; a changed file changes the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import pandas as pd

from audit.config import ProfileConfig
from audit.table import COLUMNS, conform
from pipelines.progress import Progress
from pipelines.sources.base import Source
from reports.io import atomic_write

PROFILE_VERSION = "5"
"""Bumped whenever a profiled value changes (5: compiled statistics, no alpha in gray+alpha)."""


def default_cache_dir() -> Path:
    """``$LEAKAGE_AUDIT_CACHE``, else ``$XDG_CACHE_HOME/leakage-audit``, else ``~/.cache/...``."""
    if env := os.environ.get("LEAKAGE_AUDIT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "leakage-audit"


def cache_key(source: Source, cfg: ProfileConfig) -> str | None:
    """The cache key of a source profiled with ``cfg``; None when it cannot be cached."""
    if source.fingerprint is None:
        return None
    text = f"{PROFILE_VERSION}\0{','.join(COLUMNS)}\0{cfg.max_pixels}\0{source.fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_cached(path: Path) -> pd.DataFrame | None:
    """The cached table at ``path``, or None when absent or unreadable (then re-profile)."""
    if not path.is_file():
        return None
    try:
        return conform(pd.read_parquet(path))
    except (OSError, ValueError):
        return None


def write_cached(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (temporary file, then rename)."""
    atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))


def profile_cached(
    source: Source,
    cfg: ProfileConfig,
    cache_dir: Path | None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Profile ``source``, reading and filling the cache; returns (table, cache hit).

    The profiler (and with it TensorFlow) is imported on a miss only.
    """
    key = cache_key(source, cfg) if cache_dir is not None else None
    path = cache_dir / f"{key}.parquet" if cache_dir is not None and key else None
    if path is not None and (table := read_cached(path)) is not None:
        return table, True
    from pipelines.profile import profile_source

    table = profile_source(source, cfg, progress)
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only cache dir must not fail the audit
            write_cached(table, path)
    return table, False
