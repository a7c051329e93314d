"""Blocks of array work on one thread per core, results in order.

The compiled kernels (``alignment_kernels``, ``similarity_kernels``) and
NumPy's and SciPy's array work release the GIL, so threads share a block's
work out over the cores without copying it to other processes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers() -> int:
    """Threads to use: one per core."""
    return os.cpu_count() or 1


def ordered_map(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """``fn`` of each item, in order, on ``workers()`` threads.

    At most two items per thread are in flight, so the results waiting to
    be taken stay bounded however many items there are. With one item or
    one core, the calls run on the calling thread.
    """
    if len(items) < 2 or workers() < 2:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            if len(pending) >= 2 * workers():
                yield pending.popleft().result()
            pending.append(pool.submit(fn, item))
        while pending:
            yield pending.popleft().result()
