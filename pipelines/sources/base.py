"""The Source: what every source kind hands to the profiler.

Each split is a tf.data.Dataset of records ``(payload, label, id)``, built
when first used: opening a file-based source (a directory tree, a manifest)
imports no TensorFlow, so a ``check`` whose profile is cached never loads
it (about 2 s of a re-run). The
payload is a file path (``path``), encoded image bytes (``bytes``) or an
already-decoded image tensor (``image``); ``pipelines.decode`` turns the first
two into images. ``Source.images`` gives the public view the issue promises:
``(image HxWxC, label int64, id string)`` per split, undecodable images dropped.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import UserError

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
PAYLOAD_KINDS = ("path", "bytes", "image")


@dataclass(frozen=True)
class Split:
    """One split's records.

    Attributes:
        name: split name (``train``, ``test``, ``all`` ...).
        build: tf.data.Dataset of ``(payload, label int64, id string)``, or
            a function that builds it (called once, when ``records`` is
            first read).
        ids: every id the split holds, when known without reading it (file
            lists); used to name images that failed to decode.
        size: number of records when known.

    """

    name: str
    build: tf.data.Dataset | Callable[[], tf.data.Dataset]
    ids: tuple[str, ...] | None = None
    size: int | None = None

    @functools.cached_property
    def records(self) -> tf.data.Dataset:
        """The split's records, built on first use."""
        return self.build() if callable(self.build) else self.build


@dataclass(frozen=True)
class Source:
    """A dataset ready to profile.

    Attributes:
        kind: source kind (``directory``, ``npz``, ``tfds``, ``tfrecord``,
            ``manifest``, ``memory``).
        location: what the user named (path, ``tfds:NAME``, ``<memory>``).
        payload: what record payloads hold: ``path``, ``bytes`` or ``image``.
        splits: the splits, in the source's order.
        class_names: all class names; a label indexes this tuple.
        split_class_names: class names as each split itself defines them
            (directory trees: that split's folders), to catch mapping bugs.
        groups: image id to group key (manifest ``group`` column).
        id_class_names: image id to class name where the source names each
            image's class itself (a manifest with integer labels and a
            ``class_name`` column), so a name given two indices shows.
        root: directory that ``path`` payload ids are relative to.
        fingerprint: changes whenever the content may have changed; None
            means the source cannot be cached.
        reader: what a distributed reader needs to read the source itself
            (TFRecord: the feature ``keys``); see pipelines.beam.

    """

    kind: str
    location: str
    payload: str
    splits: tuple[Split, ...]
    class_names: tuple[str, ...]
    split_class_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    id_class_names: Mapping[str, str] = field(default_factory=dict)
    root: Path | None = None
    fingerprint: str | None = None
    reader: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse sources a check could not make sense of."""
        if self.payload not in PAYLOAD_KINDS:
            raise ValueError(f"unknown payload kind {self.payload!r}")
        if not self.splits:
            raise UserError(f"{self.location}: no splits found")
        for split in self.splits:
            if split.size == 0:
                raise UserError(f"{self.location}: split {split.name!r} holds no images")

    def split(self, name: str) -> Split:
        """The split called ``name``."""
        for split in self.splits:
            if split.name == name:
                return split
        raise KeyError(name)

    def images(self, name: str) -> tf.data.Dataset:
        """Split ``name`` as ``(image, label, id)``, undecodable images dropped."""
        import tensorflow as tf

        from audit.config import ProfileConfig
        from pipelines.decode import decode_payload

        limit = ProfileConfig().max_pixels
        records = self.split(name).records
        if self.payload == "image":
            return records
        kind = self.payload
        ds = records.map(
            tf.autograph.experimental.do_not_convert(
                lambda p, label, i: (decode_payload(p, kind, limit)[0], label, i)
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return ds.ignore_errors()


SPLIT_ORDER = {
    "train": 0,
    "training": 0,
    "val": 1,
    "valid": 1,
    "validation": 1,
    "dev": 1,
    "test": 2,
    "testing": 2,
    "eval": 2,
}


def split_order(names: Iterable[str]) -> list[str]:
    """Split names in the conventional order: train, validation, test, then the rest."""
    return sorted(names, key=lambda n: (SPLIT_ORDER.get(n.lower(), 3), n))


def fingerprint_files(kind: str, paths: Iterable[Path | str], extra: str = "") -> str:
    """Hash of the paths' names, sizes and modification times.

    Cheap (one stat per file) and changes whenever a file is added, removed,
    replaced or touched, which is what a profile cache key needs.
    """
    digest = hashlib.sha256(f"{kind}\0{extra}\0".encode())
    for path in sorted(os.fspath(p) for p in paths):
        try:
            st = os.stat(path)
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def relative_id(path: Path | str, root: Path) -> str:
    """The image id of ``path``: its path relative to ``root``, with forward slashes."""
    prefix = os.path.join(root, "")
    if isinstance(path, str) and path.startswith(prefix):  # string work: 10x pathlib's
        return path[len(prefix) :].replace(os.sep, "/")
    path = Path(path)
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.as_posix()
    return rel.as_posix()


def is_image_file(name: str) -> bool:
    """Whether a file name has one of the image extensions the sources read."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def path_records(paths: Sequence[Path | str], labels: list[int], ids: list[str]) -> tf.data.Dataset:
    """Records ``(path, label, id)`` for a list of files."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        (
            tf.constant([os.fspath(p) for p in paths], tf.string),
            tf.constant(labels, tf.int64),
            tf.constant(ids, tf.string),
        )
    )
