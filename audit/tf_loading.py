"""How the command line's processes load TensorFlow (quietly, without Keras) and leave it.

The CLI does not import TensorFlow itself (a ``check`` whose profile is
cached never needs it); whatever first imports it goes through the hook
installed here, which changes two things about that one import:

- **its absl start-up lines** ("oneDNN custom operations are on", CPU
  feature notes) are written before TensorFlow's log level applies, so
  stderr is pointed at /dev/null while it loads;
  ``TF_CPP_MIN_LOG_LEVEL=0`` keeps them;
- **Keras is not loaded with it.** TensorFlow's ``__init__`` ends by
  importing ``keras.src.optimizers`` "so that registration happens at load
  time", and tolerates an ImportError there. That import is 1.7 to 2.0 s
  of TensorFlow's 4.5 to 6.6 s on a 2-vCPU Xeon VM
  (``benchmarks/check_rerun.py``), and profiling never uses Keras. The
  hook makes that one name unimportable for the duration of TensorFlow's
  ``__init__`` only; the reference CNN's ``import keras`` later loads it,
  and its registrations, as usual.

And ``exit_now`` ends a process whose work is written without the
interpreter's teardown, which takes TensorFlow 1.2 s and Great Expectations
0.6 s on that VM.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

DEFERRED = "keras.src.optimizers"
"""The module TensorFlow's ``__init__`` imports eagerly (and may go without)."""


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null (C++ writes too), then restored."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def keras_deferred() -> Iterator[None]:
    """``DEFERRED`` unimportable inside the block, unless something had loaded it already."""
    if DEFERRED in sys.modules:
        yield
        return
    sys.modules[DEFERRED] = None  # type: ignore[assignment]  # the import system's "not found"
    try:
        yield
    finally:
        if sys.modules.get(DEFERRED, 0) is None:
            del sys.modules[DEFERRED]


class _Loader(importlib.abc.Loader):
    """TensorFlow's own loader, its ``__init__`` run with Keras deferred (and stderr silenced)."""

    def __init__(self, inner: Any, quiet: bool) -> None:
        self.inner = inner
        self.quiet = quiet

    def create_module(self, spec: Any) -> Any:
        """What TensorFlow's loader creates."""
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        """TensorFlow's ``__init__``."""
        silenced = stderr_silenced() if self.quiet else contextlib.nullcontext()
        with silenced, keras_deferred():
            self.inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with its loader wrapped in ``_Loader``, once."""

    def __init__(self) -> None:
        self.quiet = True

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """TensorFlow's spec with the wrapped loader; None for every other module."""
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.quiet)
        return spec


_FINDER = _Finder()


def install() -> None:
    """Have TensorFlow, whenever something first imports it, load quietly and without Keras.

    Called by the CLI entry point only (no side effects at import).
    ``TF_CPP_MIN_LOG_LEVEL=0`` keeps TensorFlow's start-up lines.
    """
    _FINDER.quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0"
    if _FINDER.quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def exit_now(code: int) -> NoReturn:
    """Flush what was printed and logged, then end the process without tearing it down.

    For the console script and the profiling process, once everything they
    write is written and closed: the teardown only delays the exit that a
    shell, a CI job or the first process waits for.
    """
    logging.shutdown()
    with contextlib.suppress(OSError):  # a closed pipe (| head) has nothing left to flush to
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
