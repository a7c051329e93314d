"""CSV or Parquet manifests: one row per image, ``path,label,split[,group]``.

Paths are relative to the manifest's folder (or absolute); the id is that
relative path. Labels are class names or integers; ``split`` defaults to
``all``; an optional ``group`` column (patient, session, source video) is kept
for group-leakage checks.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import IO, Any

import pandas as pd

from audit.errors import UserError
from pipelines.sources.base import Source, Split, fingerprint_files, path_records, relative_id

REQUIRED = ("path", "label")


def read_manifest(path: Path | str, stream: IO[bytes] | None = None) -> pd.DataFrame:
    """Read the manifest table, with a clear error for unreadable files and missing columns.

    ``stream`` holds the file's bytes when it does not live on a local path.
    """
    try:
        if str(path).lower().endswith(".parquet"):
            table = pd.read_parquet(stream or path)
        else:
            table = pd.read_csv(stream or path, dtype={"path": str, "split": str, "group": str})
    except FileNotFoundError:
        raise UserError(f"{path}: manifest not found") from None
    except Exception as exc:  # pandas/pyarrow raise many kinds for a malformed file
        raise UserError(f"{path}: cannot read manifest ({type(exc).__name__}: {exc})") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise UserError(
            f"{path}: manifest lacks column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, table.columns))}; expected path,label,split[,group])"
        )
    if table.empty:
        raise UserError(f"{path}: manifest has no rows")
    if table["path"].isna().any():
        raise UserError(f"{path}: {int(table['path'].isna().sum())} row(s) have no path")
    return table


def _labels(table: pd.DataFrame, where: Path | str) -> tuple[list[int], tuple[str, ...]]:
    """Integer labels and class names from a label column of names or integers."""
    column = table["label"]
    if column.isna().any():
        raise UserError(f"{where}: {int(column.isna().sum())} row(s) have no label")
    if pd.api.types.is_integer_dtype(column):
        top = int(column.max())
        if "class_name" in table.columns:
            names = {int(k): str(v) for k, v in zip(column, table["class_name"], strict=True)}
            return column.astype(int).tolist(), tuple(names.get(i, str(i)) for i in range(top + 1))
        return column.astype(int).tolist(), tuple(str(i) for i in range(top + 1))
    names = tuple(sorted(column.astype(str).unique()))
    index = {n: i for i, n in enumerate(names)}
    return [index[v] for v in column.astype(str)], names


def load_manifest(path: Path) -> Source:
    """Read a CSV/Parquet manifest as a Source."""
    path = path.resolve()
    table = read_manifest(path)
    root = path.parent
    files = [Path(p) if Path(p).is_absolute() else root / p for p in table["path"].astype(str)]
    return manifest_source(
        table,
        str(path),
        [str(f) for f in files],
        [relative_id(f, root) for f in files],
        root=root,
        fingerprint=fingerprint_files("manifest", [path, *files]),
    )


def manifest_source(
    table: pd.DataFrame, location: str, files: list[str], ids: list[str], **extra: Any
) -> Source:
    """The Source a manifest table describes, given each row's file and id.

    ``extra`` are further Source fields (``root``, ``fingerprint``, ``reader``).
    """
    labels, class_names = _labels(table, location)
    split_col = (
        table["split"].astype(str) if "split" in table.columns else pd.Series(["all"] * len(table))
    )
    splits = []
    for name in dict.fromkeys(split_col):
        rows = [i for i, s in enumerate(split_col) if s == name]
        split_ids = [ids[i] for i in rows]
        records = functools.partial(
            path_records, [files[i] for i in rows], [labels[i] for i in rows], split_ids
        )
        splits.append(Split(name, records, ids=tuple(split_ids), size=len(rows)))
    groups = {}
    if "group" in table.columns:
        groups = {i: str(g) for i, g in zip(ids, table["group"], strict=True) if pd.notna(g)}
    id_class_names = {}
    if "class_name" in table.columns and pd.api.types.is_integer_dtype(table["label"]):
        id_class_names = {
            i: str(n) for i, n in zip(ids, table["class_name"], strict=True) if pd.notna(n)
        }
    return Source(
        kind="manifest",
        location=location,
        payload="path",
        splits=tuple(splits),
        class_names=class_names,
        groups=groups,
        id_class_names=id_class_names,
        **extra,
    )
