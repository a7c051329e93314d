"""A persisted dataset index for ingestion: the profile and the pHash index of a dataset.

``INDEX/`` holds ``profile.parquet`` (the decoded ImageTable rows, with
thumbnails for verification), ``phash.faiss`` (FAISS's exact binary index
over their pHashes, row k = table row k), ``canonical.faiss`` and
``inner.faiss`` (the thumbnails' descriptors for the geometric search, see
audit.descriptors; computing them for 100,000 images takes seconds, so
they are kept rather than recomputed per batch) and ``index.json``
(version, counts, what was added when). A new batch is checked against it without
profiling the indexed images again; an accepted batch is appended.

Every file is written to a temporary name and renamed; ``index.json`` goes
last and records the row count, so a crash mid-append leaves an index that
``load_index`` refuses by name instead of one that silently disagrees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.descriptors import NeighbourIndex
from audit.errors import UserError
from audit.hash_index import Matches, binary_index, range_pairs
from audit.table import conform, decoded, thumbnails
from pipelines.cache import PROFILE_VERSION, write_cached
from pipelines.progress import NullProgress, Progress
from reports.io import atomic_write, atomic_write_text

INDEX_VERSION = "1"
TABLE_FILE, HASH_FILE, META_FILE = "profile.parquet", "phash.faiss", "index.json"


@dataclass(frozen=True)
class DatasetIndex:
    """An indexed dataset: its rows, their pHash and descriptor indexes and the metadata."""

    path: Path
    table: pd.DataFrame
    hashes: Any
    neighbours: NeighbourIndex
    meta: dict[str, Any]

    def search(self, phashes: np.ndarray, radius: int) -> Matches:
        """Indexed rows within ``radius`` bits of each query pHash."""
        return range_pairs(self.hashes, phashes, radius)


def _write_faiss(folder: Path, hashes: Any, neighbours: NeighbourIndex) -> None:
    """Write the FAISS indexes (binary pHash, float descriptors) atomically."""
    import faiss

    atomic_write(folder / HASH_FILE, lambda tmp: faiss.write_index_binary(hashes, tmp))
    for name, index in neighbours.indexes.items():
        atomic_write(folder / f"{name}.faiss", lambda tmp, i=index: faiss.write_index(i, tmp))


def _counts(table: pd.DataFrame) -> dict[str, int]:
    """Images per split."""
    return {str(k): int(v) for k, v in table.groupby("split", sort=False).size().items()}


def _save(
    path: Path, table: pd.DataFrame, neighbours: NeighbourIndex, meta: dict[str, Any]
) -> DatasetIndex:
    """Write the files (metadata last) and return the index."""
    path.mkdir(parents=True, exist_ok=True)
    hashes = binary_index(table["phash"].to_numpy())
    write_cached(table, path / TABLE_FILE)
    _write_faiss(path, hashes, neighbours)
    meta = {**meta, "images": len(table), "splits": _counts(table)}
    atomic_write_text(path / META_FILE, json.dumps(meta, indent=2) + "\n")
    return DatasetIndex(path=path, table=table, hashes=hashes, neighbours=neighbours, meta=meta)


def _now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _described(
    neighbours: NeighbourIndex, rows: pd.DataFrame, progress: Progress | None
) -> NeighbourIndex:
    """``neighbours`` with the descriptors of ``rows`` appended, with a progress bar."""
    progress = progress or NullProgress()
    progress.start("computing descriptors for the geometric search", len(rows))
    try:
        neighbours.add(thumbnails(rows), progress.advance)
    finally:
        progress.finish()
    return neighbours


def build_index(
    table: pd.DataFrame, source: str, path: Path, progress: Progress | None = None
) -> DatasetIndex:
    """Index the decoded rows of ``table`` (profiled from ``source``) in the folder ``path``."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder")
    if (path / META_FILE).exists():
        raise UserError(f"{path}: already holds an index; add to it with 'index add'")
    rows = decoded(table).reset_index(drop=True)
    if rows.empty:
        raise UserError(f"{source}: no readable images to index")
    meta = {
        "index_version": INDEX_VERSION,
        "profile_version": PROFILE_VERSION,
        "created": _now(),
        "batches": [{"source": source, "images": len(rows), "added": _now()}],
    }
    return _save(path, rows, _described(NeighbourIndex(), rows, progress), meta)


def load_index(path: Path) -> DatasetIndex:
    """Read an index folder; a clear UserError when it is missing, stale or inconsistent."""
    import faiss

    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise UserError(f"{path}: not a leakage-audit index (no {META_FILE}); build one first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        table = conform(pd.read_parquet(path / TABLE_FILE))
        hashes = faiss.read_index_binary(str(path / HASH_FILE))
        kept = [path / f"{name}.faiss" for name in NeighbourIndex.NAMES]
        if all(p.is_file() for p in kept):
            neighbours = NeighbourIndex(
                {name: _read_float(p) for name, p in zip(NeighbourIndex.NAMES, kept, strict=True)}
            )
        else:  # written before descriptors were kept: compute them (seconds per 100k)
            neighbours = NeighbourIndex.of(thumbnails(table))
    except (OSError, ValueError, RuntimeError) as exc:
        raise UserError(f"{path}: cannot read the index ({exc})") from None
    if meta.get("profile_version") != PROFILE_VERSION:
        raise UserError(
            f"{path}: index made with profile version {meta.get('profile_version')}, this "
            f"tool writes {PROFILE_VERSION}; rebuild it with 'index build'"
        )
    if not len(table) == hashes.ntotal == neighbours.size == meta.get("images"):
        raise UserError(
            f"{path}: index files disagree ({len(table)} rows, {hashes.ntotal} hashes, "
            f"{neighbours.size} descriptors, {meta.get('images')} in {META_FILE}); "
            "rebuild it with 'index build'"
        )
    return DatasetIndex(path=path, table=table, hashes=hashes, neighbours=neighbours, meta=meta)


def _read_float(path: Path) -> Any:
    """A FAISS float index from ``path``."""
    import faiss

    return faiss.read_index(str(path))


def append_batch(
    index: DatasetIndex,
    batch: pd.DataFrame,
    source: str,
    split: str | None,
    prefix: str,
    progress: Progress | None = None,
) -> DatasetIndex:
    """Append a batch's decoded rows (ids prefixed, optionally moved to ``split``)."""
    rows = decoded(batch).reset_index(drop=True).copy()
    if rows.empty:
        raise UserError(f"{source}: no readable images to add")
    rows["id"] = prefix + rows["id"].astype(str)
    if split:
        rows["split"] = split
    clash = sorted(set(rows["id"]) & set(index.table["id"]))
    if clash:
        shown = ", ".join(clash[:3]) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
        raise UserError(
            f"{source}: {len(clash)} image id(s) already in the index ({shown}); "
            "pass --prefix to keep ids unique"
        )
    table = conform(pd.concat([index.table, rows], ignore_index=True))
    meta = dict(index.meta)
    meta["batches"] = [
        *meta.get("batches", []),
        {"source": source, "images": len(rows), "added": _now()},
    ]
    return _save(index.path, table, _described(index.neighbours, rows, progress), meta)
