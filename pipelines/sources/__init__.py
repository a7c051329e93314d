"""Source kinds and detection: turn what the user named into a Source.

One module per kind; ``open_source`` picks the kind from the path (or
``--format``) and calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.errors import UserError
from pipelines.formats import FORMATS
from pipelines.sources.base import Source, Split
from pipelines.sources.directory import load_directory
from pipelines.sources.manifest import load_manifest
from pipelines.sources.remote import is_remote, load_remote
from pipelines.sources.tfds import is_prepared_dataset, load_tfds
from pipelines.sources.tfrecord import TFRecordKeys, is_tfrecord, load_tfrecord

__all__ = [
    "FORMATS",
    "Source",
    "Split",
    "TFRecordKeys",
    "detect_format",
    "from_arrays",
    "from_datasets",
    "is_remote",
    "open_source",
]


def detect_format(src: str) -> str:
    """The source kind for ``src``, judged from its name and contents."""
    if src.startswith("tfds:"):
        return "tfds"
    path = Path(src)
    if not path.exists():
        raise UserError(f"{src}: no such file or directory")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return "npz"
        if suffix in (".csv", ".parquet"):
            return "manifest"
        if is_tfrecord(path):
            return "tfrecord"
        raise UserError(
            f"{src}: cannot tell the format from the name; use --format ({', '.join(FORMATS[1:])})"
        )
    if is_prepared_dataset(path):
        return "tfds"
    if any(p.is_file() and is_tfrecord(p) for p in path.iterdir()):
        return "tfrecord"
    return "directory"


def open_source(
    src: str,
    fmt: str = "auto",
    data_dir: Path | None = None,
    keys: TFRecordKeys | None = None,
) -> Source:
    """Open ``src`` as a Source of kind ``fmt`` (``auto`` detects it).

    A location with a scheme (``gs://``, ``s3://``...) is listed through
    Beam's filesystems, for ``check --runner``.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if is_remote(src) and not src.startswith("tfds:"):
        return load_remote(src, fmt)
    kind = detect_format(src) if fmt == "auto" else fmt
    if kind == "tfds":
        return load_tfds(src.removeprefix("tfds:"), data_dir)
    path = Path(src)
    if not path.exists():
        raise UserError(f"{src}: no such file or directory")
    if kind == "npz":
        from pipelines.sources.arrays import load_npz

        return load_npz(path)
    loaders = {
        "directory": load_directory,
        "manifest": load_manifest,
        "tfrecord": lambda p: load_tfrecord(p, keys),
    }
    return loaders[kind](path)


def __getattr__(name: str) -> Any:
    """``from_arrays`` and ``from_datasets``, imported when first asked for.

    Both modules import TensorFlow at once; the file-based sources do not,
    so opening a directory tree or a manifest stays free of it.
    """
    if name == "from_arrays":
        from pipelines.sources.arrays import from_arrays

        return from_arrays
    if name == "from_datasets":
        from pipelines.sources.memory import from_datasets

        return from_datasets
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
