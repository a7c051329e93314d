"""Profiling: one streaming tf.data pass from a Source to the ImageTable.

Per split: read and decode records in parallel (``AUTOTUNE``), measure each
image with ``features.image_features``, batch the fixed-size results and
finish them with vectorised NumPy. Only one batch of small features is held in
Python at a time; decoded images never leave tf.data. Images TF cannot decode
are dropped from the stream and named afterwards by ``decode.diagnose_*``:
rows with an error, or, where Pillow can read them, measured rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from audit.config import ProfileConfig
from audit.errors import UserError
from audit.table import COLUMNS, conform, empty_table
from pipelines.decode import Diagnosis, decode_bytes, diagnose_bytes, diagnose_path
from pipelines.features import finish_batch, image_features
from pipelines.progress import NullProgress, Progress
from pipelines.sources.base import Source, Split


def _measure(payload: tf.Tensor, kind: str) -> dict[str, tf.Tensor]:
    """Decode a payload and measure it; the tf.data map function."""
    if kind == "image":
        image, nbytes = payload, tf.constant(-1, tf.int64)
    else:
        data = tf.io.read_file(payload) if kind == "path" else payload
        image, nbytes = decode_bytes(data), tf.cast(tf.strings.length(data), tf.int64)
    out = image_features(image)
    out["file_bytes"] = nbytes
    out["dtype"] = tf.constant(image.dtype.name)
    return out


def measured_batches(split: Split, kind: str, batch_size: int) -> tf.data.Dataset:
    """The split as batches of ``(features, label, id)``; undecodable records dropped."""
    ds = split.records.map(
        lambda p, label, i: (_measure(p, kind), label, i),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if kind != "image":
        ds = ds.ignore_errors()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _batch_columns(features: dict[str, Any], labels: Any, ids: Any) -> dict[str, Any]:
    """Table columns for one batch."""
    arrays = {k: v.numpy() for k, v in features.items()}
    cols = finish_batch(arrays)
    cols["file_bytes"] = arrays["file_bytes"]
    cols["dtype"] = [d.decode() for d in arrays["dtype"]]
    cols["label"] = labels.numpy()
    cols["id"] = [i.decode() for i in ids.numpy()]
    return cols


def _failed_records(split: Split, seen: set[str]) -> Iterator[tuple[Any, int, str]]:
    """Records of ``split`` whose id was not measured (one more pass, without decoding)."""
    if split.ids is not None and len(seen) == len(split.ids):
        return
    if split.ids is not None:
        missing = [i for i in split.ids if i not in seen]
        wanted = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(missing, tf.ones(len(missing), tf.int64)), 0
        )
        filtered = split.records.filter(lambda p, label, i: wanted.lookup(i) > 0)
    else:
        keys = list(seen) or [""]
        known = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.ones(len(keys), tf.int64)), 0
        )
        filtered = split.records.filter(lambda p, label, i: known.lookup(i) == 0)
    for payload, label, ident in filtered.as_numpy_iterator():
        yield payload, int(label), ident.decode()


def _diagnose(payload: Any, kind: str, max_pixels: int) -> tuple[Diagnosis, int]:
    """Why a record failed in tf.data, and its size in bytes."""
    if kind == "path":
        path = Path(payload.decode())
        size = path.stat().st_size if path.is_file() else -1
        return diagnose_path(path, max_pixels), size
    return diagnose_bytes(bytes(payload), max_pixels), len(payload)


def _failure_rows(split: Split, kind: str, seen: set[str], cfg: ProfileConfig) -> dict[str, list]:
    """Rows for the records tf.data could not decode: measured by Pillow, or errors."""
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    for payload, label, ident in _failed_records(split, seen):
        diagnosis, size = _diagnose(payload, kind, cfg.max_pixels)
        if diagnosis.image is not None:
            features = {
                k: v.numpy()[None] for k, v in image_features(tf.constant(diagnosis.image)).items()
            }
            row = {k: v[0] for k, v in finish_batch(features).items()}
            row.update(dtype="uint8", error_kind=None, error=None)
        else:
            row = {"error_kind": diagnosis.kind, "error": diagnosis.message, "dtype": None}
        row.update(split=split.name, id=ident, label=label, file_bytes=size)
        for name in COLUMNS:
            rows[name].append(row.get(name))
    return rows


def _error_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill measured columns of error rows with neutral values (0, NaN, empty thumb)."""
    for name, dtype in COLUMNS.items():
        if name in ("thumb",):
            frame[name] = [t if t is not None else b"" for t in frame[name]]
        elif dtype in ("int64", "uint64"):
            frame[name] = frame[name].fillna(0)
    return frame


def profile_split(
    source: Source, split: Split, cfg: ProfileConfig, progress: Progress
) -> pd.DataFrame:
    """The ImageTable rows of one split, in the split's record order."""
    progress.start(f"profiling {split.name}", split.size)
    parts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for features, labels, ids in measured_batches(split, source.payload, cfg.batch_size):
        cols = _batch_columns(features, labels, ids)
        seen.update(cols["id"])
        parts.append(cols)
        progress.advance(len(cols["id"]))
    frames = [pd.DataFrame(p) for p in parts]
    if source.payload != "image":
        failures = _failure_rows(split, source.payload, seen, cfg)
        progress.advance(len(failures["id"]))
        frames.append(pd.DataFrame(failures))
    progress.finish()
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise UserError(f"{source.location}: split {split.name!r} holds no images")
    frame = pd.concat(frames, ignore_index=True)
    frame["split"] = split.name
    if split.ids is not None:
        order = {ident: k for k, ident in enumerate(split.ids)}
        frame = frame.iloc[
            np.argsort([order.get(i, len(order)) for i in frame["id"]], kind="stable")
        ]
    return frame


def class_name_of(label: int, names: tuple[str, ...]) -> str | None:
    """The class name of a label: the source's name, else the label itself."""
    if 0 <= label < len(names):
        return names[label]
    return str(label) if label >= 0 else None


def profile_source(
    source: Source, cfg: ProfileConfig, progress: Progress | None = None
) -> pd.DataFrame:
    """Profile every split of ``source`` into one ImageTable."""
    progress = progress or NullProgress()
    frames = [profile_split(source, split, cfg, progress) for split in source.splits]
    table = pd.concat(frames, ignore_index=True) if frames else empty_table()
    for name in COLUMNS:
        if name not in table.columns:
            table[name] = None
    table = _error_defaults(table)
    table["class_name"] = [
        class_name_of(int(label), source.class_names) for label in table["label"]
    ]
    table["group"] = [source.groups.get(i) for i in table["id"]]
    return conform(table)
