"""Python's cyclic garbage collector kept off the objects that imports leave behind.

TensorFlow and Great Expectations leave about half a million tracked
objects, and the collector makes full collections, which walk them all, as
the heap grows. On the 2-vCPU Xeon VM, importing TensorFlow took 4.2 s with
the collector and 3.6 s without, Great Expectations 1.3 s and 1.0 s, and
numba's first call after them (its registries) 0.36 s and 0.18 s. These
objects live as long as the process, so the walks find nothing: one full
collection after both imports took 0.4 s and freed 6,299 objects. A whole
``check`` process: 8.2 -> 6.7 s (``benchmarks/RESULTS.md``).

``gc.freeze`` moves every object that exists into a generation that
collections skip; objects made afterwards are collected as usual.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def imports_settled() -> Iterator[None]:
    """No collection inside the block (heavy imports), and what it made frozen after.

    For the command line's own processes only: the objects existing at the
    end stay out of every later collection for the rest of the process.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """The objects existing now frozen for the block, then given back to the collector.

    For long work that a caller's process runs (the profile): collections
    during it walk only what it makes. A no-op when something has frozen
    objects already (the command line has; nothing then is undone).
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
