"""Sources on Beam's filesystems (``gs://``, ``s3://``, ``hdfs://``...), listed by file patterns.

``check gs://bucket/tree --runner DataflowRunner`` reads a bucket that
TensorFlow on the driver may not be able to open. The driver lists it with
Beam's ``FileSystems``: a directory tree by the pattern ``ROOT/**``, a
manifest by reading it and joining its paths to its folder. The workers read
each file with ``FileSystems.open`` (``pipelines.beam``); ``Source.reader``
says so (``{"filesystem": "beam"}``). Layouts, ids, labels and record order
are the local readers' (``directory``, ``manifest``), so a tree gives the
same rows wherever it lives; the tests check that on a local tree, which
Beam's local filesystem lists through the same calls.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from audit.errors import UserError
from pipelines.sources.base import IMAGE_EXTENSIONS, Source, Split, is_image_file, path_records
from pipelines.sources.base import split_order as conventional_order
from pipelines.sources.directory import REPORT_MARKERS
from pipelines.sources.manifest import manifest_source, read_manifest
from pipelines.sources.tfrecord import is_tfrecord

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

BEAM_READER = {"filesystem": "beam"}
"""``Source.reader`` of a source whose files the Beam workers open with ``FileSystems``."""


def is_remote(location: str) -> bool:
    """Whether ``location`` names a filesystem by scheme (``gs://``, ``s3://``...)."""
    return bool(SCHEME.match(location))


def filesystems() -> Any:
    """Beam's ``FileSystems``, imported without its warnings about absent cloud clients."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        from apache_beam.io.filesystems import FileSystems
    except ImportError:
        raise UserError("--runner needs Apache Beam: pip install 'leakage-audit[beam]'") from None
    finally:
        root.setLevel(level)
    return FileSystems


def load_remote(location: str, fmt: str = "auto") -> Source:
    """Open a directory tree or a CSV/Parquet manifest through Beam's filesystems."""
    fs = filesystems()
    location = location.rstrip("/")
    kind = fmt if fmt != "auto" else _kind(location)
    if kind == "manifest":
        return _manifest(fs, location)
    if kind == "directory":
        return _directory(fs, location)
    raise UserError(
        f"{location}: --runner reads directory trees and manifests on this filesystem; "
        f"{kind} sources are read from local paths"
    )


def _kind(location: str) -> str:
    """``manifest`` for a .csv/.parquet file, else ``directory``."""
    return "manifest" if location.lower().endswith((".csv", ".parquet")) else "directory"


def _listing(fs: Any, root: str) -> list[list[str]]:
    """Relative path parts of every file below ``root`` (one pattern match)."""
    try:
        found = fs.match([f"{root}/**"])[0].metadata_list
    except Exception as exc:  # BeamIOError wraps the filesystem's own error
        raise UserError(f"{root}: cannot list ({exc})") from None
    prefix = len(root) + 1
    return [m.path[prefix:].replace("\\", "/").split("/") for m in found]


def _visible(parts: list[str]) -> bool:
    """No hidden folder or file on the way (the local reader skips them too)."""
    return not any(p.startswith(".") for p in parts)


def _walk_key(parts: list[str]) -> tuple[tuple[int, str], ...]:
    """os.walk's order below a class folder: a folder's files, then its subfolders (sorted)."""
    return (*((1, d) for d in parts[:-1]), (0, parts[-1]))


def _reports(listing: list[list[str]]) -> set[tuple[str, ...]]:
    """Folders holding one of our own reports (skipped, as the local reader does)."""
    return {tuple(p[:-1]) for p in listing if p[-1] in REPORT_MARKERS}


def _classes(
    listing: list[list[str]], depth: int, skipped: set[tuple[str, ...]]
) -> dict[str, dict[str, list[str]]]:
    """``{split: {class: ids}}`` of the image files; ``depth`` is 1 for ROOT/<class>/, else 2.

    Folders in ``skipped`` (our own reports) and below are left out.
    """
    out: dict[str, dict[str, list[list[str]]]] = {}
    for parts in listing:
        if len(parts) <= depth or not _visible(parts) or not is_image_file(parts[-1]):
            continue
        if any(tuple(parts[:k]) in skipped for k in range(1, depth + 1)):
            continue
        split = "all" if depth == 1 else parts[0]
        out.setdefault(split, {}).setdefault(parts[depth - 1], []).append(parts)
    return {
        split: {
            c: ["/".join(p) for p in sorted(files, key=lambda p: _walk_key(p[depth:]))]
            for c, files in sorted(classes.items())
        }
        for split, classes in out.items()
    }


def _directory(fs: Any, root: str) -> Source:
    """A directory tree by the pattern ``ROOT/**``: the local reader's layouts, ids and order."""
    listing = _listing(fs, root)
    skipped = _reports(listing)
    direct = [
        p
        for p in listing
        if len(p) == 2 and _visible(p) and is_image_file(p[1]) and (p[0],) not in skipped
    ]
    per_split = _classes(listing, 1 if direct else 2, skipped)
    class_names = tuple(sorted({c for classes in per_split.values() for c in classes}))
    if not class_names and any(is_tfrecord(PurePosixPath(p[-1])) for p in listing):
        raise UserError(
            f"{root}: TFRecord shards are read by the Beam workers from local or mounted "
            "paths only (TensorFlow reads them); give a directory tree or a manifest here"
        )
    if not class_names:
        raise UserError(f"{root}: no image files found ({', '.join(IMAGE_EXTENSIONS)})")
    index = {c: i for i, c in enumerate(class_names)}
    splits = []
    for name in conventional_order(per_split):
        ids = [i for files in per_split[name].values() for i in files]
        labels = [index[c] for c, files in per_split[name].items() for _ in files]
        records = path_records([f"{root}/{i}" for i in ids], labels, ids)
        splits.append(Split(name, records, ids=tuple(ids), size=len(ids)))
    return Source(
        kind="directory",
        location=root,
        payload="path",
        splits=tuple(splits),
        class_names=class_names,
        split_class_names={n: tuple(c) for n, c in per_split.items()},
        reader=BEAM_READER,
    )


def _manifest(fs: Any, location: str) -> Source:
    """A CSV/Parquet manifest read with ``FileSystems.open``; paths relative to its folder."""
    try:
        with fs.open(location) as stream:
            data = stream.read()
    except Exception as exc:  # BeamIOError, or the filesystem's own
        raise UserError(f"{location}: cannot read manifest ({exc})") from None
    table = read_manifest(location, io.BytesIO(data))
    folder = location.rsplit("/", 1)[0]
    files, ids = [], []
    for path in table["path"].astype(str):
        absolute = is_remote(path) or path.startswith("/")
        files.append(path if absolute else f"{folder}/{path}")
        ids.append(path[len(folder) + 1 :] if path.startswith(folder + "/") else path)
    return manifest_source(table, location, files, ids, reader=BEAM_READER)


def remote_files(paths: Iterator[str]) -> Iterator[tuple[bytes | None, str]]:
    """Each path's bytes, or None and why it could not be read (``missing_file``/``unreadable``)."""
    fs = filesystems()
    from apache_beam.io.filesystem import CompressionTypes

    for path in paths:
        try:
            with fs.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                yield stream.read(), ""
        except Exception as exc:  # BeamIOError, OSError: the file is named in the row
            yield None, "missing_file" if not fs.exists(path) else f"unreadable: {exc}"
