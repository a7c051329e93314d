"""Profile and duplicate join on Apache Beam: the local functions, driven by a Beam pipeline.

One implementation, two drivers. Each Beam worker profiles a batch of records
with ``pipelines.profile.profile_splits`` and ``finish_table`` (the local
path's own functions) and writes the rows as a Parquet shard. The
duplicate join runs on the same rows in the same pipeline:

- exact duplicates: rows keyed by content hash; each member is paired with
  its group's first row (the local ``exact_pairs`` rule);
- near duplicates: multi-index hashing as a join (see audit.hash_index):
  every pHash is split into ``m`` chunks; a row is keyed by each exact chunk
  value (the "index" side) and by each value within ``radius // m`` flipped
  bits (the "query" side), so two hashes within the radius meet under at
  least one key. Candidates are checked on all 64 bits, rows with equal
  content are left out, and the rest are verified on thumbnails with
  ``audit.similarity.pair_similarity`` (the local verifier).

Hot keys (thousands of blank images share every chunk value) are split
before the join: a key with more than ``HOT_KEY_ROWS`` rows on a side is
salted on both sides, so every group compares at most HOT_KEY_ROWS x
HOT_KEY_ROWS rows and one key cannot stall a worker.

The driver then reads the shards back into the ImageTable (in the local
path's row order) and the pairs into the frame ``find_leakage`` takes, and
the checks, the gate and the reports run as usual. Rotated and cropped
copies (the geometric search) are searched in the driver on the table.
"""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.config import LeakageConfig, ProfileConfig
from audit.errors import UserError
from audit.hash_index import chunk_ranges, flip_masks
from audit.table import conform
from pipelines.sources.base import Source, Split

RUNNERS = ("DirectRunner", "PrismRunner", "FlinkRunner", "SparkRunner", "DataflowRunner")
"""Beam runners ``check --runner`` accepts (others' options pass through unchanged)."""

BATCH = (256, 2048)
"""Records profiled per worker call (Beam's BatchElements bounds).

Larger batches amortise building each batch's tf.data pipeline (64-512 took
13.0 s for 5,000 digits on the DirectRunner, 512-4096 took 9.5 s); TFRecord
records carry their encoded bytes, which caps how large a batch should be.
"""

ENCODED_BYTES = 2048
"""Assumed encoded bytes per TFRecord image, to size the join before the shards are read."""

HOT_KEY_ROWS = 16384
"""Most rows per side that one join group compares (hot keys are salted above it).

A full group is 16,384 x 16,384 Hamming distances, about 0.9 s of NumPy in
blocks of QUERY_BLOCK rows (benchmarks/beam_scale.py measures it): bounded
work per key. At 4,096 rows, 1,000,000 uniform hashes already salted every
key of the 11-chunk join four ways (88 elements per row instead of 22).
"""

QUERY_BLOCK = 256
"""Query rows compared at a time within a join group (bounds the distance matrix)."""

ELEMENT_US, COMPARE_US = 10.5, 0.0032
"""Costs on Beam's Python DirectRunner: one emitted join element, one Hamming distance.

ELEMENT_US is fitted to four runs of benchmarks/beam_scale.py (12,500 to
400,000 hashes, 4, 6 and 11 chunks), within 15%. COMPARE_US is measured on
one full join group (``_candidates``, 16,384 x 16,384 rows: 3.2 ns per
distance); it matters from about 1,000,000 hashes, where keys hold
thousands of rows.
"""

RANK_SPLIT = 1 << 40
"""A row's rank is split index * RANK_SPLIT + its position in the split: the local row order."""

SHARDS, PAIRS = "profile", "pairs"

MASK = (1 << 64) - 1
"""pHashes travel as signed 64-bit ints (Beam's integer coder); their bits are ``h & MASK``."""


def _bits(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes (signed or not)."""
    return ((a ^ b) & MASK).bit_count()


Record = tuple[int, int, str, Any, int, str]
"""``(split index, position in the split, split name, payload, label, id)``."""


def _listed(source: Source) -> list[Record]:
    """Every record of a file-list source (directory tree, manifest): listed by the driver.

    Their payloads are file names, so the list is small next to the images.
    """
    out = []
    for k, split in enumerate(source.splits):
        for n, (payload, label, ident) in enumerate(split.records.as_numpy_iterator()):
            out.append((k, n, split.name, bytes(payload), int(label), ident.decode()))
    return out


def _read_shard(
    shard: tuple[int, str, int, str], counts: dict[tuple[int, int], int], keys: Any
) -> Iterator[Record]:
    """The records of one TFRecord shard, placed after the split's earlier shards."""
    from pipelines.sources.tfrecord import split_records

    k, name, j, path = shard
    start = sum(counts[(k, i)] for i in range(j))
    records = split_records(name, [Path(path)], keys, start).as_numpy_iterator()
    for n, (payload, label, ident) in enumerate(records):
        yield k, start + n, name, bytes(payload), int(label), ident.decode()


def _record_stage(pipeline: Any, source: Source) -> tuple[Any, int]:
    """The records as a PCollection, and about how many there are (for the join's chunks).

    TFRecord shards are read by the workers, one shard each (a first cheap
    pass counts every shard's records, so default ids ``<split>/<position>``
    match the local reader's); file lists are listed by the driver.
    """
    import apache_beam as beam

    if source.payload == "image":
        raise UserError(
            f"{source.location}: --runner needs image files (a directory tree, a manifest or "
            "TFRecord shards); arrays and in-memory datasets are profiled locally"
        )
    if source.kind != "tfrecord":
        listed = _listed(source)
        return pipeline | "records" >> beam.Create(listed, reshuffle=True), len(listed)
    from pipelines.sources.tfrecord import count_records, shards_by_split

    by_split = shards_by_split(Path(source.location))
    shards = [
        (k, name, j, str(path))
        for k, (name, files) in enumerate(by_split.items())
        for j, path in enumerate(files)
    ]
    size = sum(Path(s[3]).stat().st_size for s in shards)
    counts = (
        pipeline
        | "shards to count" >> beam.Create(shards)
        | "count" >> beam.Map(lambda s: ((s[0], s[2]), count_records(Path(s[3]))))
    )
    records = (
        pipeline
        | "tfrecord shards" >> beam.Create(shards, reshuffle=True)
        | "read" >> beam.FlatMap(_read_shard, beam.pvalue.AsDict(counts), source.reader["keys"])
    )
    return records, max(1, size // ENCODED_BYTES)


def _portable(source: Source) -> Source:
    """``source`` without its tf.data records (not picklable); workers build their own."""
    names = tuple(Split(s.name, build=None) for s in source.splits)  # type: ignore[arg-type]
    return dataclasses.replace(source, splits=names)


def profile_batch(source: Source, batch: list[Record], cfg: ProfileConfig) -> pd.DataFrame:
    """ImageTable rows of a batch of records, with their ``_rank``: the local functions."""
    import tensorflow as tf

    from pipelines.profile import finish_table, profile_splits
    from pipelines.progress import NullProgress

    unread: dict[str, str] = {}
    if source.reader.get("filesystem") == "beam":
        batch, unread = _fetched(batch)
        source = dataclasses.replace(source, payload="bytes")
    by_split: dict[tuple[int, str], list[tuple[int, Any, int, str]]] = {}
    for k, n, name, payload, label, ident in batch:
        by_split.setdefault((k, name), []).append((n, payload, label, ident))
    splits, ranks = [], {}
    for (k, name), rows in sorted(by_split.items()):
        rows.sort()
        ids = [r[3] for r in rows]
        records = tf.data.Dataset.from_tensor_slices(
            (
                tf.constant([r[1] for r in rows], tf.string),
                tf.constant([r[2] for r in rows], tf.int64),
                tf.constant(ids, tf.string),
            )
        )
        splits.append(Split(name, records, ids=tuple(ids), size=len(rows)))
        ranks.update({(name, r[3]): k * RANK_SPLIT + r[0] for r in rows})
    table = finish_table(source, profile_splits(source, splits, cfg, NullProgress()))
    table["_rank"] = [ranks[(s, i)] for s, i in zip(table["split"], table["id"], strict=True)]
    for ident, why in unread.items():  # the local reader's rows for files it cannot read
        row = table["id"] == ident
        kind, _, detail = why.partition(": ")
        message = "file not found" if kind == "missing_file" else f"cannot read: {detail}"
        table.loc[row, ["error_kind", "error", "file_bytes"]] = [kind, message, -1]
    return table


def _fetched(batch: list[Record]) -> tuple[list[Record], dict[str, str]]:
    """The batch with each file's bytes as payload (read with Beam's FileSystems).

    Files that cannot be read get empty bytes and are returned by id with why.
    """
    from pipelines.sources.remote import remote_files

    read = remote_files(payload.decode() for _, _, _, payload, _, _ in batch)
    out, unread = [], {}
    for (k, n, name, _, label, ident), (data, why) in zip(batch, read, strict=True):
        out.append((k, n, name, data or b"", label, ident))
        if data is None:
            unread[ident] = why
    return out, unread


def _write_shard(table: pd.DataFrame, prefix: str) -> str:
    """Write one batch's rows as a Parquet shard (temporary name, then rename)."""
    from apache_beam.io.filesystems import FileSystems

    name = f"{prefix}-{uuid.uuid4().hex}.parquet"
    tmp = f"{prefix}-.tmp-{uuid.uuid4().hex}"
    with FileSystems.create(tmp) as stream:
        table.to_parquet(stream, index=False)
    FileSystems.rename([tmp], [name])
    return name


HashRow = tuple[int, int, str, bytes, int]
"""``(rank, pHash, content hash, thumbnail, mirrored thumbnail's pHash)``; hashes as int64."""


def _hash_rows(table: pd.DataFrame, flip_invariant: bool) -> Iterator[HashRow]:
    """The join's rows of a batch's decodable rows (mirrored pHash 0 unless flip-invariant)."""
    from audit.hashes import mirrored_phash
    from audit.table import thumbnails

    ok = table[table["error_kind"].isna()]
    mirrored = (
        mirrored_phash(thumbnails(ok))
        if flip_invariant and len(ok)
        else np.zeros(len(ok), np.uint64)
    )
    yield from zip(
        ok["_rank"].astype(int),
        ok["phash"].to_numpy().astype(np.uint64).view(np.int64).tolist(),
        ok["content_hash"].astype(str),
        ok["thumb"],
        mirrored.view(np.int64).tolist(),
        strict=True,
    )


def _exact(
    group: tuple[str, Iterable[tuple[int, int]]],
) -> Iterator[tuple[int, int, str, int, float]]:
    """Each member of a content-hash group paired with the group's first row."""
    members = sorted(group[1])
    first_rank, first_hash = members[0]
    for rank, phash in members[1:]:
        yield first_rank, rank, "exact", _bits(first_hash, phash), 1.0


def _keyed(
    row: tuple[Any, ...], chunks: list[tuple[int, int]], flips: list[np.ndarray], mirrored: bool
) -> Iterator[tuple[tuple[int, int], tuple[str, int, int, str]]]:
    """Join keys of one row: each exact chunk value ("x"), and it and its variants ("q").

    With ``mirrored``, the mirrored thumbnail's pHash is a query too ("m").
    """
    rank, phash, content = row[:3]
    queries = [("q", phash), ("m", row[4])] if mirrored else [("q", phash)]
    for c, ((shift, width), masks) in enumerate(zip(chunks, flips, strict=True)):
        low = (1 << width) - 1
        yield (c, ((phash & MASK) >> shift) & low), ("x", rank, phash, content)
        for side, query in queries:
            value = ((query & MASK) >> shift) & low
            for mask in masks:
                yield (c, value ^ int(mask)), (side, rank, query, content)


def _salted(
    element: tuple[tuple[int, int], tuple[str, int, int, str]], hot: dict[Any, tuple[int, int]]
) -> Iterator[tuple[tuple[int, int, int, int], tuple[str, int, int, str]]]:
    """A join entry under its salted keys: a hot key's rows are spread over S_x x S_q groups."""
    key, entry = element
    n_x, n_q = hot.get(key, (0, 0))
    s_x, s_q = max(1, math.ceil(n_x / HOT_KEY_ROWS)), max(1, math.ceil(n_q / HOT_KEY_ROWS))
    salt = entry[1] % (s_x if entry[0] == "x" else s_q)
    if entry[0] == "x":
        for t in range(s_q):
            yield (*key, salt, t), entry
    else:
        for t in range(s_x):
            yield (*key, t, salt), entry


def _candidates(
    group: tuple[Any, Iterable[tuple[str, int, int, str]]], radius: int
) -> Iterator[tuple[int, int, int, bool]]:
    """Pairs ``(rank a < rank b, distance, mirrored)`` of one join group within the radius.

    The group's query and index rows are compared all against all with NumPy
    (salting keeps both sides at most HOT_KEY_ROWS long). A mirrored query
    ("m") meets any other row, in either order, as the local join does.
    """
    entries = list(group[1])
    q = [e for e in entries if e[0] != "x"]
    x = [e for e in entries if e[0] == "x"]
    if not q or not x:
        return
    _, content = np.unique([e[3] for e in q + x], return_inverse=True)
    rank_q, rank_x = np.array([e[1] for e in q]), np.array([e[1] for e in x])
    mirrored = np.array([e[0] == "m" for e in q])
    hash_q = np.array([e[2] for e in q], np.int64).view(np.uint64)
    hash_x = np.array([e[2] for e in x], np.int64).view(np.uint64)
    for s in range(0, len(q), QUERY_BLOCK):
        part = slice(s, s + QUERY_BLOCK)
        distance = np.bitwise_count(hash_q[part, None] ^ hash_x[None, :])
        order = np.where(
            mirrored[part, None],
            rank_q[part, None] != rank_x[None, :],
            rank_q[part, None] < rank_x[None, :],
        )
        keep = (
            (distance <= radius)
            & order
            & (content[: len(q)][part, None] != content[None, len(q) :])
        )
        for a, b in zip(*np.nonzero(keep), strict=True):
            first, second = sorted((int(rank_q[s + a]), int(rank_x[b])))
            yield first, second, int(distance[a, b]), bool(mirrored[s + a])


def _verify(
    batch: list[tuple[int, int, int, bool, bytes, bytes]], cfg: LeakageConfig
) -> Iterator[tuple[tuple[int, int], tuple[float, int]]]:
    """Candidates confirmed on thumbnails by the local verifier: ``((a, b), (similarity, -bits))``.

    A mirrored candidate is compared with b's thumbnail mirrored back.
    """
    from audit.similarity import pair_similarity
    from audit.table import THUMB_SIZE

    def stack(k: int) -> np.ndarray:
        return np.stack(
            [np.frombuffer(b[k], np.uint8).reshape(THUMB_SIZE, THUMB_SIZE) for b in batch]
        )

    rows = np.arange(len(batch))
    mirrored = np.array([b[3] for b in batch], bool)
    sim = pair_similarity(stack(4), stack(5), rows, rows, mirrored, cfg.max_shift, cfg.similarity)
    for (a, b, distance, _, _, _), s in zip(batch, sim, strict=True):
        if s >= cfg.similarity:
            yield (a, b), (float(s), -distance)


def _near(element: tuple[tuple[int, int], tuple[float, int]]) -> tuple[int, int, str, int, float]:
    """A verified pair's output row, from its best match (``max`` over its candidates)."""
    (a, b), (similarity, negative_bits) = element
    return a, b, "near", -negative_bits, similarity


def _attach(element: tuple[int, dict[str, list[Any]]], rekey: int | None) -> Iterator[Any]:
    """Pair tuples joined on one side's rank, with that side's thumbnail appended.

    With ``rekey``, each result is keyed by its field ``rekey`` for the next join.
    """
    _, joined = element
    for thumb in joined["thumb"]:
        for pair in joined["pairs"]:
            out = (*pair, thumb)
            yield out if rekey is None else (out[rekey], out)


def join_chunks(n_rows: int, radius: int) -> int:
    """Chunks per hash that minimise the Beam join's cost per row.

    Unlike the in-memory index (audit.hash_index.chunk_count), a Beam join
    pays for every element it emits: each row's index keys, its flipped query
    keys, and their salted copies when keys are hot. Cost per row =
    ELEMENT_US x elements + COMPARE_US x distances (uniform hashes, each
    chunk at its own width).
    """
    best, best_cost = 1, math.inf
    for m in range(1, min(radius + 1, 16) + 1):
        elements = distances = 0.0
        for _, width in chunk_ranges(m):
            flips = sum(math.comb(width, k) for k in range(radius // m + 1))
            per_key = n_rows / 2.0**width
            salt_x = max(1, math.ceil(per_key / HOT_KEY_ROWS))
            salt_q = max(1, math.ceil(per_key * flips / HOT_KEY_ROWS))
            elements += salt_q + flips * salt_x
            distances += flips * per_key
        cost = ELEMENT_US * elements + COMPARE_US * distances
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def near_candidates(radius: int, n_rows: int, mirrored: bool = False) -> Any:
    """A PTransform: ``(rank, pHash, content, thumb[, mirrored pHash])`` rows to candidate pairs.

    pHashes are signed 64-bit ints (the bits of the uint64 hash).

    Distinct pairs ``(rank a, rank b, distance, mirrored)`` with a < b, within
    ``radius`` bits and different content: multi-index hashing as a salted
    join (module docstring). With ``mirrored``, a row's mirrored pHash also
    queries (``--flip-invariant``); rows then need their fifth field.
    """
    import apache_beam as beam

    chunks = chunk_ranges(join_chunks(n_rows, radius))
    flips = [flip_masks(width, radius // len(chunks)) for _, width in chunks]

    @beam.ptransform_fn
    def expand(rows: Any) -> Any:
        keyed = rows | "chunk keys" >> beam.FlatMap(_keyed, chunks, flips, mirrored)
        sizes = (
            keyed
            | "side" >> beam.Map(lambda kv: ((kv[0], "x" if kv[1][0] == "x" else "q"), 1))
            | "count" >> beam.CombinePerKey(sum)
            | "by key" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
            | "sides" >> beam.GroupByKey()
            | "hot" >> beam.FlatMap(_hot_sizes)
        )
        return (
            keyed
            | "salt" >> beam.FlatMap(_salted, beam.pvalue.AsDict(sizes))
            | "join" >> beam.GroupByKey()
            | "within radius" >> beam.FlatMap(_candidates, radius)
            | "distinct" >> beam.Distinct()
        )

    return expand()


def build_pipeline(
    pipeline: Any,
    source: Source,
    profile_cfg: ProfileConfig,
    leakage_cfg: LeakageConfig,
    out: str,
) -> None:
    """Add the profile and join stages to ``pipeline``; shards and pairs go under ``out``."""
    import apache_beam as beam

    worker_source = _portable(source)
    radius = leakage_cfg.phash_radius
    records, n_rows = _record_stage(pipeline, source)
    tables = (
        records
        | "batch" >> beam.BatchElements(min_batch_size=BATCH[0], max_batch_size=BATCH[1])
        | "profile" >> beam.Map(lambda b: profile_batch(worker_source, b, profile_cfg))
    )
    _ = tables | "write shards" >> beam.Map(_write_shard, f"{out}/{SHARDS}/part")
    rows = tables | "hash rows" >> beam.FlatMap(_hash_rows, leakage_cfg.flip_invariant)
    exact = (
        rows
        | "by content" >> beam.Map(lambda r: (r[2], (r[0], r[1])))
        | "content groups" >> beam.GroupByKey()
        | "exact pairs" >> beam.FlatMap(_exact)
    )
    candidates = rows | "near candidates" >> near_candidates(
        radius, n_rows, leakage_cfg.flip_invariant
    )
    thumbs = rows | "thumbs" >> beam.Map(lambda r: (r[0], r[3]))
    by_a = candidates | "by a" >> beam.Map(lambda c: (c[0], c))
    by_b = (
        {"pairs": by_a, "thumb": thumbs}
        | "join a" >> beam.CoGroupByKey()
        | "thumb a" >> beam.FlatMap(_attach, 1)
    )
    near = (
        {"pairs": by_b, "thumb": thumbs}
        | "join b" >> beam.CoGroupByKey()
        | "thumb b" >> beam.FlatMap(_attach, None)
        | "verify batches" >> beam.BatchElements(min_batch_size=256, max_batch_size=8192)
        | "verify" >> beam.FlatMap(_verify, leakage_cfg)
        | "best match per pair" >> beam.CombinePerKey(max)
        | "near pairs" >> beam.Map(_near)
    )
    _ = (
        (exact, near)
        | "all pairs" >> beam.Flatten()
        | "json" >> beam.Map(json.dumps)
        | "write pairs" >> beam.io.WriteToText(f"{out}/{PAIRS}/part", file_name_suffix=".jsonl")
    )


def _hot_sizes(
    element: tuple[tuple[int, int], Iterable[tuple[str, int]]],
) -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
    """``(key, (index rows, query rows))`` for keys with more than HOT_KEY_ROWS on a side."""
    key, sides = element
    counts = dict(sides)
    n_x, n_q = counts.get("x", 0), counts.get("q", 0)
    if max(n_x, n_q) > HOT_KEY_ROWS:
        yield key, (n_x, n_q)


def read_results(out: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ImageTable (local row order) and the hash pairs (``i``, ``j`` into decoded rows)."""
    from apache_beam.io.filesystems import FileSystems

    def paths(folder: str, suffix: str) -> list[str]:
        found = FileSystems.match([f"{out}/{folder}/part*{suffix}"])[0].metadata_list
        return sorted(m.path for m in found)

    frames = []
    for path in paths(SHARDS, ".parquet"):
        with FileSystems.open(path) as stream:
            frames.append(pd.read_parquet(stream))
    if not frames:
        raise UserError(f"{out}: the Beam pipeline wrote no profile shards")
    table = pd.concat(frames, ignore_index=True).sort_values("_rank", kind="stable")
    table = table.reset_index(drop=True)
    decoded_rank = table.loc[table["error_kind"].isna(), "_rank"].to_numpy()
    row_of = pd.Series(np.arange(len(decoded_rank)), index=decoded_rank)
    lines = []
    for path in paths(PAIRS, ".jsonl"):
        with FileSystems.open(path) as stream:
            lines += [json.loads(line) for line in stream.read().decode().splitlines() if line]
    pairs = pd.DataFrame(lines, columns=["i", "j", "kind", "hamming", "similarity"])
    pairs["i"] = row_of.reindex(pairs["i"]).to_numpy()
    pairs["j"] = row_of.reindex(pairs["j"]).to_numpy()
    pairs = pairs.astype({"i": int, "j": int, "hamming": int, "similarity": float})
    pairs = pairs.sort_values(["kind", "i", "j"], ignore_index=True)
    return conform(table.drop(columns="_rank")), pairs


def run_beam(
    source: Source,
    profile_cfg: ProfileConfig,
    leakage_cfg: LeakageConfig,
    runner: str,
    options: list[str],
    out: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the pipeline on ``runner`` (extra Beam ``options`` pass through); table and pairs.

    ``out`` holds the shards and pairs; on a cluster it must be a path every
    worker can write (``gs://...`` on Dataflow).
    """
    from pipelines.sources.remote import filesystems

    fs = filesystems()  # imports Beam quietly, or refuses with the install hint
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    for folder in (f"{out}/{SHARDS}", f"{out}/{PAIRS}"):  # never mix in an earlier run's shards
        if fs.exists(folder):
            fs.delete([folder])
    try:
        opts = PipelineOptions([f"--runner={runner}", *options])
    except (ValueError, SystemExit) as exc:
        raise UserError(f"Beam pipeline options {' '.join(options)}: {exc}") from None
    with beam.Pipeline(options=opts) as pipeline:
        build_pipeline(pipeline, source, profile_cfg, leakage_cfg, str(out))
    return read_results(str(out))
