"""TFDS datasets already prepared in a local data directory; never downloads.

``tfds:NAME`` (with ``--data-dir``) loads a prepared dataset by name, and a
path to a prepared dataset's version folder (holding ``dataset_info.json``)
loads it directly. Images are read as encoded bytes (``SkipDecoding``) so that
they go through the same decoding and integrity path as files. Ids are
``<split>/<index>`` in file order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from audit.errors import UserError
from pipelines.sources.base import Source, Split, fingerprint_files


def is_prepared_dataset(path: Path) -> bool:
    """Whether ``path`` is a prepared TFDS version folder."""
    return path.is_dir() and (path / "dataset_info.json").is_file()


def _builder(name_or_path: str, data_dir: Path | None) -> Any:
    """A read-only builder for a prepared dataset, or a UserError saying what is missing."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    path = Path(name_or_path)
    try:
        if is_prepared_dataset(path):
            return tfds.builder_from_directory(str(path))
        kwargs = {"data_dir": str(data_dir)} if data_dir else {}
        builder = tfds.builder(name_or_path, try_gcs=False, **kwargs)
    except Exception as exc:  # tfds raises several kinds for unknown or unprepared datasets
        raise UserError(f"tfds:{name_or_path}: cannot load ({type(exc).__name__}: {exc})") from None
    if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
        where = data_dir or "the default TFDS data dir"
        raise UserError(
            f"tfds:{name_or_path}: not prepared in {where}; nothing is downloaded: "
            "prepare it elsewhere and pass --data-dir"
        )
    return builder


def _feature_keys(builder: Any, where: str) -> tuple[str, str | None]:
    """The image feature key and the class-label key of a builder."""
    import tensorflow_datasets as tfds

    features = builder.info.features
    image = next((k for k, f in features.items() if isinstance(f, tfds.features.Image)), None)
    label = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
    if image is None:
        raise UserError(f"{where}: no Image feature (features: {', '.join(features)})")
    return image, label


def load_tfds(name_or_path: str, data_dir: Path | None = None) -> Source:
    """Load a prepared TFDS dataset as a Source."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    where = f"tfds:{name_or_path}"
    builder = _builder(name_or_path, data_dir)
    image_key, label_key = _feature_keys(builder, where)
    decoders = {image_key: tfds.decode.SkipDecoding()}
    splits = []
    for name, info in builder.info.splits.items():
        ds = builder.as_dataset(split=name, decoders=decoders, shuffle_files=False)
        records = ds.enumerate().map(
            tf.autograph.experimental.do_not_convert(
                lambda i, e, n=name: (
                    e[image_key],
                    tf.cast(e[label_key], tf.int64) if label_key else tf.constant(-1, tf.int64),
                    tf.strings.join([n, tf.strings.as_string(i)], "/"),
                )
            )
        )
        n = int(info.num_examples)
        splits.append(Split(name, records, ids=tuple(f"{name}/{i}" for i in range(n)), size=n))
    class_names = tuple(builder.info.features[label_key].names) if label_key else ()
    files = [Path(f) for f in tf.io.gfile.glob(os.path.join(builder.data_dir, "*"))]
    return Source(
        kind="tfds",
        location=where,
        payload="bytes",
        splits=tuple(splits),
        class_names=class_names,
        fingerprint=fingerprint_files("tfds", files, builder.data_dir),
    )
