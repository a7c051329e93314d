"""How the command line's processes load TensorFlow and Great Expectations, and leave them.

The CLI does not import TensorFlow itself (a ``check`` whose profile is
cached never needs it); whatever first imports it goes through the hook
installed here, which changes three things about that one import:

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
  and its registrations, as usual;
- **the garbage collector stays off while it loads**, and its objects are
  frozen after (``heap.imports_settled``), as are Great Expectations'
  (that import goes through the same hook): 0.6 s and 0.3 s less.

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

from audit import heap

DEFERRED = "keras.src.optimizers"
"""The module TensorFlow's ``__init__`` imports eagerly (and may go without)."""

SETTLED = ("tensorflow", "great_expectations")
"""Packages imported without the garbage collector, their objects frozen after (``audit.heap``)."""


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
    """A heavy package's own loader, its ``__init__`` run without the garbage collector.

    TensorFlow's also runs with Keras deferred and (``quiet``) stderr silenced.
    """

    def __init__(self, inner: Any, name: str, quiet: bool) -> None:
        self.inner = inner
        self.name = name
        self.quiet = quiet

    def create_module(self, spec: Any) -> Any:
        """What the package's loader creates."""
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        """The package's ``__init__``."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(heap.imports_settled())
            if self.name == "tensorflow":
                if self.quiet:
                    stack.enter_context(stderr_silenced())
                stack.enter_context(keras_deferred())
            self.inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds each of ``SETTLED`` with its loader wrapped in ``_Loader``, once."""

    def __init__(self) -> None:
        self.quiet = True
        self.pending = set(SETTLED)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """The package's spec with the wrapped loader; None for every other module."""
        if name not in self.pending:
            return None
        self.pending.discard(name)
        if not self.pending:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, name, self.quiet)
        return spec


_FINDER = _Finder()


def install() -> None:
    """Have TensorFlow and Great Expectations, when first imported, load as described above.

    Called by the command line's entry points only (no side effects at
    import). ``TF_CPP_MIN_LOG_LEVEL=0`` keeps TensorFlow's start-up lines.
    """
    _FINDER.quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0"
    if _FINDER.quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _FINDER.pending = {name for name in SETTLED if name not in sys.modules}
    if _FINDER.pending and _FINDER not in sys.meta_path:
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
