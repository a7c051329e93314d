"""Atomic file writes: a report is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(tmp: str, path: Path) -> None:
    """Give a finished temporary file the permissions a new file gets, then rename it to ``path``.

    ``mkstemp`` creates files readable by the owner only; a report or index
    must be readable like any file the user writes (CI artifacts, shared folders).
    """
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
