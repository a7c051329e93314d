"""Profiling: one streaming tf.data pass from a Source to the ImageTable.

Read and decode records in parallel (``decode_calls``), batch them by size,
measure each batch (compiled statistics and hash inputs, TF content hashes)
and finish the rows with vectorised NumPy. Decoded images live one
size-bounded batch at a time (``ProfileConfig.batch_max_pixels``); rows keep
only small features and a 32x32 thumbnail. Images TF cannot decode
are dropped from the stream and named afterwards by ``decode.diagnose_*``:
rows with an error, or, where Pillow can read them, measured rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf
from threadpoolctl import threadpool_limits

from audit.config import ProfileConfig
from audit.errors import UserError
from audit.heap import settled_heap
from audit.parallel import workers
from audit.table import COLUMNS, conform, empty_table
from pipelines.decode import Diagnosis, decode_payload, diagnose_bytes, diagnose_path
from pipelines.features import (
    MEASURES,
    STATS_DTYPES,
    batch_measures,
    content_hashes,
    finish_batch,
    image_features,
    rows_by_shape,
)
from pipelines.header import (
    FORMATS,
    HEAD_BYTES,
    batch_header_info,
    declared_pixels,
    format_code,
)
from pipelines.progress import NullProgress, Progress
from pipelines.sources.base import Source, Split

_plain = tf.autograph.experimental.do_not_convert
"""Marks a map function as plain graph code: AutoGraph's conversion only costs time here."""


@functools.cache
def _element_fn(kind: str, max_pixels: int) -> Any:
    """The per-image stage as a tf.function, traced once per process, payload kind and limit."""
    return tf.function(
        lambda payload: _element(payload, kind, max_pixels), reduce_retracing=True, autograph=False
    )


def _element(payload: tf.Tensor, kind: str, max_pixels: int) -> dict[str, tf.Tensor]:
    """Per-image stage (parallel): refuse bombs, decode, flatten, find the size bucket."""
    image, nbytes, head = decode_payload(payload, kind, max_pixels)
    flat = tf.reshape(image, [-1])
    bucket = tf.searchsorted(
        tf.constant(BOUNDARIES, tf.int64), tf.size(flat, tf.int64)[None], side="right"
    )
    return {
        "flat": flat,
        "shape": tf.shape(image, out_type=tf.int64),
        "file_bytes": nbytes,
        "head": head,
        "bucket": tf.cast(bucket[0], tf.int64),
    }


BOUNDARIES = [4**k for k in range(5, 13)]
"""Size buckets by values per image: bucket ``k`` holds images of ``BOUNDARIES[k-1]`` up to
``BOUNDARIES[k]`` values (1 Ki .. 16 Mi), bucket 0 smaller ones, the last larger ones."""


def _buckets(cfg: ProfileConfig) -> list[int]:
    """The batch size of each size bucket (``BOUNDARIES``) under one memory budget.

    A batch holds at most ``batch_size * batch_max_pixels * 4`` values whatever
    the image size: small images batch by ``batch_size``, large ones alone.
    """
    budget = cfg.batch_size * cfg.batch_max_pixels * 4
    return [max(1, min(cfg.batch_size, budget // b)) for b in BOUNDARIES] + [1]


def size_batches(elements: tf.data.Dataset, cfg: ProfileConfig) -> tf.data.Dataset:
    """Padded batches of ``_element`` dicts (and what follows them), one size bucket per batch.

    ``bucket_by_sequence_length`` without its key function: that ran a
    handful of ops per image on the one thread that forms the batches,
    0.2 s per 16,000 digits (``benchmarks/RESULTS.md``); the bucket is found
    in the parallel per-image stage instead.
    """
    sizes = tf.constant(_buckets(cfg), tf.int64)

    def batch_size(bucket: tf.Tensor) -> tf.Tensor:
        return tf.gather(sizes, bucket)

    return elements.group_by_window(
        key_func=_plain(lambda e, *_: e["bucket"]),
        reduce_func=_plain(lambda bucket, window: window.padded_batch(batch_size(bucket))),
        window_size_func=_plain(batch_size),
    )


@functools.cache
def _hash_fn(dtype: tf.DType) -> Any:
    """``content_hashes`` as a concrete function, traced once per process and dtype."""
    spec = tf.TensorSpec([None, None, None, None], dtype)
    return tf.function(content_hashes, autograph=False).get_concrete_function(spec)


def _hashes_by_shape(flat: tf.Tensor, shapes: tf.Tensor) -> np.ndarray:
    """``content_hashes`` of a batch of mixed shapes: one eager call per shape (in a py_function).

    Out of the graph on purpose: a ``tf.map_fn`` branch here was instantiated
    with every iterator, a tenth of a second per profile even when no batch
    mixed shapes.
    """
    values, shapes = flat.numpy(), shapes.numpy()
    fn = _hash_fn(flat.dtype)
    out = np.empty([len(shapes), 8], np.uint8)
    for shape, rows in rows_by_shape(shapes).items():
        images = values[rows, : int(np.prod(shape))].reshape(len(rows), *shape)
        out[rows] = fn(images).numpy()
    return out


_MEASURE_DTYPES = [tf.as_dtype(d) for d in STATS_DTYPES.values()] + [tf.uint8, tf.uint64, tf.uint64]


@tf.function(reduce_retracing=True, autograph=False)
def _measure_batch(element: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Per-batch stage: statistics, hash inputs, content hashes and header facts.

    Statistics, texture and hash inputs come from compiled kernels
    (``features.batch_measures``), content hashes from TensorFlow.
    Content hashes take one vectorised call when the batch's images share a
    shape, else one eager call per shape (``_hashes_by_shape``).
    """
    flat, shapes = element["flat"], element["shape"]
    measured = tf.numpy_function(batch_measures, [flat, shapes], _MEASURE_DTYPES, stateful=False)
    out = dict(zip(MEASURES, measured, strict=True))

    def together() -> tf.Tensor:
        return content_hashes(tf.reshape(flat, tf.concat([[-1], shapes[0]], axis=0)))

    def by_shape() -> tf.Tensor:
        return tf.py_function(_hashes_by_shape, [flat, shapes], tf.uint8)

    out["content_hash"] = tf.cond(tf.reduce_all(shapes == shapes[:1]), together, by_shape)
    out["format"], out["orientation"] = tf.numpy_function(
        batch_header_info, [element["head"]], [tf.int64, tf.int64], stateful=False
    )
    out["file_bytes"] = element["file_bytes"]
    return out


def measured_batches(
    splits: list[Split], kind: str, cfg: ProfileConfig, pixels: int = 0
) -> tf.data.Dataset:
    """Batches of ``(features, label, id, split index)``; undecodable records dropped.

    The splits run through one pipeline so its functions are traced once;
    batches are formed by image size (bounded memory), so rows come out of
    record order and are put back in order by the caller. ``pixels``: the
    largest image expected (``sampled_pixels``), which bounds the decodes
    in flight.
    """
    records = None
    for k, split in enumerate(splits):
        tag = tf.data.Dataset.from_tensors(tf.constant(k, tf.int64)).repeat()
        tagged = tf.data.Dataset.zip(split.records, tag)
        records = tagged if records is None else records.concatenate(tagged)
    ds = records.map(
        _plain(lambda r, k: (_element_fn(kind, cfg.max_pixels)(r[0]), r[1], r[2], k)),
        num_parallel_calls=decode_calls(cfg, pixels),
        deterministic=True,
    )
    if kind != "image":
        ds = ds.ignore_errors()
    ds = size_batches(ds, cfg).map(
        _plain(lambda e, label, i, k: (_measure_batch(e), label, i, k)),
        num_parallel_calls=workers(),
        deterministic=True,
    )
    return ds.prefetch(2).with_options(_OPTIONS)


DECODE_BUDGET = 1 << 28
"""Values that the images being decoded may hold together by default (256 MiB of 8-bit pixels)."""


def decode_calls(cfg: ProfileConfig, pixels: int = 0) -> int:
    """Images decoded at once: ``cfg.parallel_decodes``, else 12 per core (at most 64).

    Decoding is many short calls; with one call per core in flight, each
    finished call woke the next thread and tf.data's threads spun between
    them: 20,000 digits decoded in 1.4 s with 2 calls, 0.68 s with 24, and
    CPU time halved too (2.1 -> 1.1 s). Each call holds one decoded image,
    so when ``pixels`` (the largest image seen, ``sampled_pixels``) is big,
    fewer calls keep them within ``DECODE_BUDGET``, but never fewer than
    one per core.
    """
    if cfg.parallel_decodes:
        return cfg.parallel_decodes
    calls = min(64, 12 * workers())
    if pixels:
        calls = min(calls, max(workers(), DECODE_BUDGET // (4 * pixels)))
    return calls


def sampled_pixels(source: Source, splits: list[Split], per_split: int = 16) -> int:
    """The largest pixel count that the headers of each split's first images declare.

    0 for decoded arrays (already in memory) or when no header can be read.
    Reads at most ``HEAD_BYTES`` of ``per_split`` files or records per split:
    files by their ids, without a tf.data pass (that alone cost 30 ms).
    """
    heads: list[bytes] = []
    for split in splits:
        if source.payload == "path" and source.root is not None and split.ids is not None:
            heads += [_read_head(source.root / i) for i in split.ids[:per_split]]
        elif source.payload != "image":
            records = split.records.take(per_split).as_numpy_iterator()
            heads += [_head(payload, source.payload) for payload, *_ in records]
    return max((int(declared_pixels(head)) for head in heads), default=0)


def _head(payload: Any, kind: str) -> bytes:
    """The first ``HEAD_BYTES`` of a record's encoded image (a path's file, or the bytes)."""
    return _read_head(Path(payload.decode())) if kind == "path" else bytes(payload[:HEAD_BYTES])


_OPTIONS = tf.data.Options()
_OPTIONS.autotune.enabled = False
_OPTIONS.experimental_optimization.apply_default_optimizations = False
"""Parallelism set by hand (``decode_calls``, one batch per core), no autotuning, no rewrites.

With autotuning, about half of the profiles on this 2-core VM ended with a
stall while the iterator was torn down (its tuning thread): 2,000 photos
took 1.7 s or 2.85 s, 5,390 digits 1.0 s or 1.6 s. Without it, every run
takes the fast time, and at most one batch per core is being measured
(autotuning starts parallel stages at 16).

tf.data's default rewrites (map fusion, injected prefetches, ...) add
nothing to a pipeline that is parallel and prefetched by hand, and running
them cost each iterator 0.03 s (a 50-image profile: 0.18 s -> 0.15 s)."""


def _image_dtype(split: Split, kind: str) -> str:
    """The dtype of the split's decoded images (files decode to uint8)."""
    return split.records.element_spec[0].dtype.name if kind == "image" else "uint8"


def _batch_columns(features: dict[str, Any], labels: Any, ids: Any) -> dict[str, Any]:
    """Table columns for one batch."""
    arrays = {k: v.numpy() for k, v in features.items()}
    cols = finish_batch(arrays)
    cols["file_bytes"] = arrays["file_bytes"]
    cols["label"] = labels.numpy()
    cols["id"] = np.array([i.decode() for i in ids.numpy()], dtype=object)
    return cols


def _failed_records(split: Split, seen: set[str]) -> Iterator[tuple[Any, int, str]]:
    """Records of ``split`` whose id was not measured (one more pass, without decoding)."""
    if split.ids is not None and len(seen) == len(split.ids):
        return
    if split.ids is not None:
        missing = [i for i in split.ids if i not in seen]
        if not missing:  # fewer unique ids than records: a manifest listing a file twice
            return
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


def _diagnose(payload: Any, kind: str, max_pixels: int) -> tuple[Diagnosis, int, bytes]:
    """Why a record failed in tf.data, its size in bytes and its head."""
    if kind == "path":
        path = Path(payload.decode())
        size = path.stat().st_size if path.is_file() else -1
        head = _read_head(path) if size > 0 else b""
        return diagnose_path(path, max_pixels), size, head
    data = bytes(payload)
    return diagnose_bytes(data, max_pixels), len(data), data[:HEAD_BYTES]


def _read_head(path: Path) -> bytes:
    """The first HEAD_BYTES of a file (empty when it cannot be read)."""
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError:
        return b""


def _failure_rows(split: Split, kind: str, seen: set[str], cfg: ProfileConfig) -> dict[str, list]:
    """Rows for the records tf.data could not decode: measured by Pillow, or errors."""
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    for payload, label, ident in _failed_records(split, seen):
        diagnosis, size, head = _diagnose(payload, kind, cfg.max_pixels)
        if diagnosis.image is not None:
            features = image_features(diagnosis.image, head)
            row = {k: v[0] for k, v in finish_batch(features).items()}
            row.update(thumb=row["thumb"].tobytes(), dtype="uint8", error_kind=None, error=None)
        else:
            row = {
                "error_kind": diagnosis.kind,
                "error": diagnosis.message,
                "dtype": None,
                "format": FORMATS[format_code(head)] or None,
            }
        row.update(split=split.name, id=ident, label=label, file_bytes=size)
        for name in COLUMNS:
            rows[name].append(row.get(name))
    return rows


def _error_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill measured columns of error rows with neutral values (0, NaN, empty thumb)."""
    for name, dtype in COLUMNS.items():
        if name == "thumb":
            frame[name] = [t if t is not None else b"" for t in frame[name]]
        elif dtype in ("int64", "uint64"):
            frame[name] = frame[name].fillna(0)
    return frame


def _spec_groups(source: Source) -> list[list[Split]]:
    """Splits whose records have the same spec, which can share one pipeline."""
    groups: dict[str, list[Split]] = {}
    for split in source.splits:
        groups.setdefault(repr(split.records.element_spec), []).append(split)
    return list(groups.values())


def _frame(parts: list[dict[str, np.ndarray]], dtype: str) -> pd.DataFrame:
    """One DataFrame from a split's batch columns; thumbnails become bytes here.

    Columns are joined first and framed once: a DataFrame per batch cost
    2 ms each, a tenth of a second for 20,000 digits.
    """
    if not parts:
        return pd.DataFrame()
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    thumbs = cols.pop("thumb")
    frame = pd.DataFrame(cols)
    frame["thumb"] = [t.tobytes() for t in thumbs]
    frame["dtype"] = dtype
    return frame


def _finish_split(
    source: Source,
    split: Split,
    parts: list[dict[str, Any]],
    seen: set[str],
    cfg: ProfileConfig,
    progress: Progress,
    dtype: str,
) -> pd.DataFrame:
    """One split's rows: measured batches, failure rows, back in record order."""
    frames = [_frame(parts, dtype)]
    if source.payload != "image":
        failures = _failure_rows(split, source.payload, seen, cfg)
        progress.advance(len(failures["id"]))
        frames.append(pd.DataFrame(failures))
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise UserError(f"{source.location}: split {split.name!r} holds no images")
    frame = pd.concat(frames, ignore_index=True)
    frame["split"] = split.name
    if split.ids is not None:
        order = {ident: k for k, ident in enumerate(split.ids)}
        keys = [order.get(i, len(order)) for i in frame["id"]]
    else:
        keys = [
            int(i.rsplit("/", 1)[1]) if i.rsplit("/", 1)[-1].isdigit() else 0 for i in frame["id"]
        ]
    return frame.iloc[np.argsort(keys, kind="stable")]


def profile_splits(
    source: Source, splits: list[Split], cfg: ProfileConfig, progress: Progress
) -> list[pd.DataFrame]:
    """The ImageTable rows of ``splits`` (one pipeline), one frame per split."""
    sizes = [s.size for s in splits]
    total = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    progress.start(f"profiling {', '.join(s.name for s in splits)}", total)
    parts: list[list[dict[str, Any]]] = [[] for _ in splits]
    seen: list[set[str]] = [set() for _ in splits]
    dtype = _image_dtype(splits[0], source.payload)
    try:
        # tf.data already runs batches in parallel: BLAS threads (the pHash DCT
        # of each batch) would only spin against them.
        with threadpool_limits(limits=1, user_api="blas"):
            pixels = sampled_pixels(source, splits)
            for features, labels, ids, index in measured_batches(
                splits, source.payload, cfg, pixels
            ):
                cols = _batch_columns(features, labels, ids)
                index = index.numpy()
                for k in np.unique(index):
                    mask = index == k
                    part = {name: values[mask] for name, values in cols.items()}
                    parts[k].append(part)
                    seen[k].update(part["id"])
                progress.advance(len(index))
        return [
            _finish_split(source, s, parts[k], seen[k], cfg, progress, dtype)
            for k, s in enumerate(splits)
        ]
    finally:
        progress.finish()  # also on Ctrl-C or an error: the bar gives the terminal back


def class_name_of(label: int, names: tuple[str, ...]) -> str | None:
    """The class name of a label: the source's name, else the label itself."""
    if 0 <= label < len(names):
        return names[label]
    return str(label) if label >= 0 else None


def profile_source(
    source: Source, cfg: ProfileConfig, progress: Progress | None = None
) -> pd.DataFrame:
    """Profile every split of ``source`` into one ImageTable.

    The objects that exist before it are kept out of the garbage
    collector's walks meanwhile (``audit.heap``): tracing the pipeline and
    numba's first call make full collections, which walked TensorFlow's
    half a million objects.
    """
    progress = progress or NullProgress()
    by_name = {}
    with settled_heap():
        for group in _spec_groups(source):
            frames = profile_splits(source, group, cfg, progress)
            by_name.update(zip([s.name for s in group], frames, strict=True))
    return finish_table(source, [by_name[s.name] for s in source.splits])


def finish_table(source: Source, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Profiled split frames as one ImageTable: error defaults, class names, groups, dtypes.

    The local path and the Beam path (pipelines.beam, per batch) both end here.
    """
    table = pd.concat(frames, ignore_index=True) if frames else empty_table()
    for name in COLUMNS:
        if name not in table.columns:
            table[name] = None
    table = _error_defaults(table)
    table["class_name"] = [
        source.id_class_names.get(i) or class_name_of(int(label), source.class_names)
        for i, label in zip(table["id"], table["label"], strict=True)
    ]
    table["group"] = [source.groups.get(i) for i in table["id"]]
    return conform(table)
