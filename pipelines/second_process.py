"""Profiling in a second process, so that it overlaps the first process's start-up.

A ``check`` process spends seconds importing what its checks and gate need
(Great Expectations, SciPy, pandas, numba, FAISS) and, for the profile,
TensorFlow. Imports hold the GIL, so a thread cannot overlap them; a second
process can. ``ProfileProcess`` starts one (a new interpreter, its job
pickled to its stdin) that opens the source, profiles it through the cache as
usual and hands the table back as a Parquet file, while the first process
loads the rest and validates the suite. Only the CLI's ``check`` uses it; the
Python API profiles in the caller's process.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit import tf_loading
from audit.config import ProfileConfig
from audit.errors import UserError
from pipelines.progress import Progress
from reports.io import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.sources.base import Source


REPLY = "reply.json"
"""The second process's reply, beside the table, in the folder the first one made."""

STOP_SECONDS = 10.0
"""How long a stopped second process may take to unwind before it is killed."""

_ENTRY = "from pipelines.second_process import _main; _main()"
"""What the second process runs (``-c``, so that this module is imported once, by name)."""


@dataclass(frozen=True)
class _Job:
    """What the second process is asked to do (pickled to its stdin)."""

    spec: SourceSpec
    cfg: ProfileConfig
    cache_dir: Path | None
    progress: Callable[[], Progress]
    table_path: Path


class ProfileProcessError(Exception):
    """The second process ended without a table, for a reason that is not the user's input."""


@dataclass(frozen=True)
class SourceSpec:
    """What opens a Source: the arguments of ``open_source``, as plain values.

    Plain values so that building one imports nothing (the second process
    starts before the first imports pandas) and it pickles.
    """

    src: str
    fmt: str = "auto"
    data_dir: Path | None = None
    image_key: str = "image/encoded"
    label_key: str = "image/class/label"
    id_key: str | None = None

    def open(self) -> Source:
        """The Source these arguments name."""
        from pipelines.sources import TFRecordKeys, open_source

        keys = TFRecordKeys(image=self.image_key, label=self.label_key, id=self.id_key)
        return open_source(self.src, self.fmt, data_dir=self.data_dir, keys=keys)


def _failed() -> dict[str, Any]:
    """The reply for the exception being handled: its last traceback line."""
    return {"status": "error", "message": traceback.format_exc().strip().splitlines()[-1]}


def _profile_into(job: _Job) -> dict[str, Any]:
    """In the second process: profile the job's source (through the cache), write its table.

    Returns the reply: ``{"status": "ok", "hit": bool}``, ``{"status": "user",
    "message": ...}`` for a problem with the input, or ``{"status": "error",
    "message": ...}`` (the last line of the traceback).
    """
    try:
        from pipelines.cache import profile_cached, write_cached

        table, hit = profile_cached(job.spec.open(), job.cfg, job.cache_dir, job.progress())
        write_cached(table, job.table_path)
        return {"status": "ok", "hit": hit}
    except UserError as exc:
        return {"status": "user", "message": str(exc)}
    except Exception:
        return _failed()


def _stopped(signum: int, frame: Any) -> None:
    """SIGTERM from the first process: unwind, so a progress bar gives the terminal back."""
    raise SystemExit(128 + signum)


def _main() -> None:
    """Entry point of the second process: the pickled job on stdin, the reply in a file.

    ``sys.argv[1]`` is the folder for the reply (and the table).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # on Ctrl-C the first process stops this one
    signal.signal(signal.SIGTERM, _stopped)
    tf_loading.install()
    try:
        reply = _profile_into(pickle.load(sys.stdin.buffer))
    except Exception:  # the job did not unpickle: a bug, reported like the others
        reply = _failed()
    atomic_write_text(Path(sys.argv[1]) / REPLY, json.dumps(reply))
    # the table and the cache entry are written and closed: the first process
    # would wait for TensorFlow's teardown
    tf_loading.exit_now(0)


class ProfileProcess:
    """A profile running in a second process; ``table()`` waits for it.

    Use as a context manager: leaving it stops the process if it still runs
    (an error in the first process, Ctrl-C) and removes its temporary files.
    """

    def __init__(
        self,
        spec: SourceSpec,
        cfg: ProfileConfig,
        cache_dir: Path | None,
        progress: Callable[[], Progress],
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="leakage-audit-profile-")
        folder = Path(self._tmp.name)
        self._reply = folder / REPLY
        job = _Job(spec, cfg, cache_dir, progress, folder / "profile.parquet")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _ENTRY, str(folder)], stdin=subprocess.PIPE, close_fds=True
        )
        self._job = job
        # a process that could not start leaves no reply: table() says so
        with contextlib.suppress(BrokenPipeError), self._process.stdin as stdin:  # type: ignore[union-attr]
            pickle.dump(job, stdin)

    def table(self) -> tuple[pd.DataFrame, bool]:
        """The profiled table and whether it came from the cache.

        Raises UserError for a problem with the input (as profiling here
        would), ProfileProcessError when the process failed otherwise.
        """
        code = self._process.wait()
        try:
            reply = json.loads(self._reply.read_text())
        except (OSError, ValueError):
            raise ProfileProcessError(f"it ended with exit code {code} and no reply") from None
        if reply["status"] == "user":
            raise UserError(reply["message"])
        if reply["status"] != "ok":
            raise ProfileProcessError(reply["message"])
        from pipelines.cache import read_cached

        table = read_cached(self._job.table_path)
        if table is None:
            raise ProfileProcessError(f"{self._job.table_path}: its table could not be read")
        return table, bool(reply["hit"])

    def close(self) -> None:
        """Stop the process if it still runs; remove the temporary folder."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()

    def __enter__(self) -> ProfileProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
