"""TFRecord files of ``tf.train.Example`` with encoded images.

Keys default to the TF-slim/Object-Detection convention (``image/encoded``,
``image/class/label``) and are configurable. The split is read from each file
name (``train-00000-of-00004``, ``mnist-test.tfrecord``); files naming no split
form the split ``all``. Ids are the ``--id-key`` feature when given, else
``<split>/<index>`` in sorted-file order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from audit.errors import UserError
from pipelines.sources.base import Source, Split, fingerprint_files, split_order

if TYPE_CHECKING:
    import tensorflow as tf

TFRECORD_PATTERN = re.compile(r"\.(tfrecords?|tfrec)(-\d+-of-\d+)?(\.gz)?$|-\d{5}-of-\d{5}$")
SPLIT_PATTERN = re.compile(
    r"(?:^|[-_.])(train|training|val|valid|validation|dev|test|testing|eval)(?=[-_.]|$)"
)


@dataclass(frozen=True)
class TFRecordKeys:
    """Feature keys inside each tf.train.Example."""

    image: str = "image/encoded"
    label: str = "image/class/label"
    id: str | None = None


def is_tfrecord(path: PurePath) -> bool:
    """Whether a file name looks like a TFRecord shard."""
    return bool(TFRECORD_PATTERN.search(path.name))


def split_of(path: Path) -> str:
    """The split a shard belongs to, from its name; ``all`` if it names none."""
    match = SPLIT_PATTERN.search(path.name.lower())
    return match.group(1) if match else "all"


def _shards(path: Path) -> list[Path]:
    """The TFRecord files at ``path`` (a file or a folder of shards)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and is_tfrecord(p))
    raise UserError(f"{path}: not found")


def _feature_spec(keys: TFRecordKeys) -> dict[str, tf.io.FixedLenFeature]:
    """The feature spec for ``tf.io.parse_single_example``."""
    import tensorflow as tf

    spec = {
        keys.image: tf.io.FixedLenFeature([], tf.string),
        keys.label: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    }
    if keys.id:
        spec[keys.id] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def shards_by_split(path: Path) -> dict[str, list[Path]]:
    """The TFRecord files at ``path`` by split (named from the file names), in split order."""
    by_split: dict[str, list[Path]] = {}
    for shard in _shards(path):
        by_split.setdefault(split_of(shard), []).append(shard)
    return {n: by_split[n] for n in split_order(by_split)}


def split_records(
    name: str, shards: list[Path], keys: TFRecordKeys, start: int = 0
) -> tf.data.Dataset:
    """Records ``(bytes, label, id)`` for one split, in file order.

    ``start`` is the position of the first record in the split (default ids
    are ``<split>/<position>``), for a reader of one shard of several (Beam).
    """
    import tensorflow as tf

    compression = "GZIP" if shards[0].name.endswith(".gz") else ""
    spec = _feature_spec(keys)
    raw = tf.data.TFRecordDataset([str(s) for s in shards], compression_type=compression)

    @tf.autograph.experimental.do_not_convert  # plain graph code: conversion only costs time
    def parse(i: tf.Tensor, serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        ex = tf.io.parse_single_example(serialized, spec)
        default_id = tf.strings.join([name, tf.strings.as_string(i + start)], "/")
        ident = ex[keys.id] if keys.id else default_id
        if keys.id:
            ident = tf.where(tf.strings.length(ident) > 0, ident, default_id)
        return ex[keys.image], ex[keys.label], ident

    return raw.enumerate().map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def count_records(shard: Path) -> int:
    """Records in one TFRecord file (a cheap pass: no parsing)."""
    import tensorflow as tf

    compression = "GZIP" if shard.name.endswith(".gz") else ""
    dataset = tf.data.TFRecordDataset(str(shard), compression_type=compression)
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def _check_keys(shard: Path, keys: TFRecordKeys) -> None:
    """Fail early, naming the file and the keys it has, when the image key is absent."""
    import tensorflow as tf

    compression = "GZIP" if shard.name.endswith(".gz") else ""
    try:
        first = next(iter(tf.data.TFRecordDataset(str(shard), compression_type=compression)), None)
    except tf.errors.OpError as exc:
        raise UserError(f"{shard}: not a readable TFRecord file ({exc.message})") from None
    if first is None:
        raise UserError(f"{shard}: TFRecord file holds no records")
    example = tf.train.Example()
    try:
        example.ParseFromString(first.numpy())
    except Exception:
        raise UserError(f"{shard}: records are not tf.train.Example protos") from None
    found = sorted(example.features.feature)
    if keys.image not in found:
        raise UserError(
            f"{shard}: no feature {keys.image!r} (features: {', '.join(found)}); use --image-key"
        )


def load_tfrecord(path: Path, keys: TFRecordKeys | None = None) -> Source:
    """Read TFRecord shards at ``path`` as a Source."""
    keys = keys or TFRecordKeys()
    shards = _shards(path)
    if not shards:
        raise UserError(f"{path}: no TFRecord files (*.tfrecord, *.tfrec, *-00000-of-00001)")
    _check_keys(shards[0], keys)
    by_split = shards_by_split(path)
    splits = tuple(Split(n, split_records(n, files, keys)) for n, files in by_split.items())
    return Source(
        kind="tfrecord",
        reader={"keys": keys},
        location=str(path.resolve()),
        payload="bytes",
        splits=splits,
        class_names=(),
        fingerprint=fingerprint_files("tfrecord", [s.resolve() for s in shards], repr(keys)),
    )
