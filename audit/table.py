"""The ImageTable: one row per image, the only thing checks ever read.

Built by ``pipelines.profile`` in one streaming pass; cached as Parquet. Rows
whose image could not be decoded carry ``error_kind`` and ``error`` and zeros
in the measured columns; use ``decoded`` to select the others.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

THUMB_SIZE = 32
"""Side of the grayscale thumbnail; also pHash's input size (imagehash's 4 x 8)."""

COLUMNS: dict[str, str] = {
    "split": "object",  # split name
    "id": "object",  # image id (contract: path relative to the root, or <split>/<index>)
    "label": "int64",  # label index into the source's class names; -1 when unknown
    "class_name": "object",  # the class name of ``label``
    "group": "object",  # group key (manifest column or --group-pattern); None when absent
    "file_bytes": "int64",  # encoded size on disk or in the record; -1 for arrays
    "height": "int64",
    "width": "int64",
    "channels": "int64",
    "dtype": "object",  # value dtype as the source holds it: uint8, float32, ...
    "min": "float64",  # over all finite values and channels
    "max": "float64",
    "mean": "float64",
    "std": "float64",
    "mean_c0": "float64",  # per-channel mean/std of the first three channels (NaN if absent)
    "mean_c1": "float64",
    "mean_c2": "float64",
    "std_c0": "float64",
    "std_c1": "float64",
    "std_c2": "float64",
    "nonfinite": "int64",  # count of NaN/Inf values
    "sharpness": "float64",  # std of the luma's Laplacian, in the image's value units (blur)
    "colorfulness": "float64",  # Hasler-Suesstrunk colourfulness, in value units; 0 for gray
    "format": "object",  # encoded format from the file signature (png, jpeg, ...); None for arrays
    "orientation": "int64",  # EXIF orientation 1-8; 0 when the image carries none
    "content_hash": "uint64",  # FarmHash64 of dtype, shape and decoded values: exact duplicates
    "phash": "uint64",  # 64-bit DCT perceptual hash (imagehash.phash's algorithm)
    "dhash": "uint64",  # 64-bit difference hash (imagehash.dhash's algorithm)
    "thumb": "object",  # THUMB_SIZE x THUMB_SIZE grayscale uint8, row-major bytes
    "error_kind": "object",  # None, or empty_file, not_an_image, truncated, corrupt, ...
    "error": "object",  # human-readable decode error, None when decoded
}


def empty_table() -> pd.DataFrame:
    """An ImageTable with no rows and the right column dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in COLUMNS.items()})


def conform(table: pd.DataFrame) -> pd.DataFrame:
    """Order columns as in COLUMNS and cast them to their dtypes.

    Raises:
        ValueError: a column is missing (for example a cache from an older version).

    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"ImageTable lacks columns: {', '.join(missing)}")
    out = table[list(COLUMNS)].copy()
    for name, dtype in COLUMNS.items():
        if dtype != "object":
            out[name] = out[name].astype(dtype)
        else:
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out.reset_index(drop=True)


def decoded(table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose image was decoded and measured."""
    return table[table["error_kind"].isna()]


def thumbnails(table: pd.DataFrame) -> np.ndarray:
    """The thumbnails of ``table`` as an (N, THUMB_SIZE, THUMB_SIZE) uint8 array."""
    if table.empty:
        return np.zeros((0, THUMB_SIZE, THUMB_SIZE), np.uint8)
    joined = b"".join(table["thumb"].tolist())
    return np.frombuffer(joined, np.uint8).reshape(-1, THUMB_SIZE, THUMB_SIZE)


def split_names(table: pd.DataFrame) -> list[str]:
    """The table's splits in order of first appearance (the source's order)."""
    return [str(s) for s in pd.unique(table["split"])]


def reference_split(table: pd.DataFrame) -> str | None:
    """The split others are compared with: ``train`` when present, else the first."""
    names = split_names(table)
    if not names:
        return None
    return "train" if "train" in names else names[0]


def thumbnail_uris(table: pd.DataFrame, ids: list[str]) -> dict[str, str]:
    """PNG data URIs of the thumbnails of ``ids`` (those decoded), for self-contained reports."""
    from PIL import Image

    wanted = table[table["id"].isin(set(ids)) & table["error_kind"].isna()]
    out = {}
    for ident, thumb in zip(wanted["id"], thumbnails(wanted), strict=True):
        buffer = io.BytesIO()
        Image.fromarray(thumb).save(buffer, "PNG", optimize=True)
        out[str(ident)] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return out
