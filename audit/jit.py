"""Compiling the kernels: numba's ``njit``, cached on disk where numba can write.

numba caches compiled kernels next to their module (``__pycache__``), else
in the user's cache directory. A read-only install without a writable home
has neither; ``njit(cache=True)`` then raises at import, which would stop
the tool before it starts. There the kernels compile in memory instead, on
each run (about 5 s), with a warning that says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from numba import njit

_warned: list[str] = []
"""Modules already warned about (one warning per module, not per kernel)."""


def kernel(fn: Callable[..., Any]) -> Any:
    """``fn`` compiled by numba (no GIL held), its machine code cached where that is possible."""
    return _compile(fn, {})


def summing_kernel(fn: Callable[..., Any]) -> Any:
    """``kernel``, with float sums that LLVM may reorder (``fastmath`` ``reassoc`` only).

    A strict left-to-right float sum waits for each add before the next:
    a loop of sums runs at one add per four cycles. Reordered, it runs in
    SIMD lanes; results change in the last bits, and NaN, Inf and signed
    zeros keep their meaning (no ``nnan``/``ninf``/``nsz``).
    """
    return _compile(fn, {"fastmath": {"reassoc"}})


def _compile(fn: Callable[..., Any], options: dict[str, Any]) -> Any:
    """``fn`` compiled with ``options``, cached unless numba cannot write a cache for it."""
    try:
        return njit(cache=True, nogil=True, **options)(fn)
    except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
        if fn.__module__ not in _warned:
            _warned.append(fn.__module__)
            warnings.warn(
                f"numba cannot cache the kernels of {fn.__module__} ({exc}): they are "
                "compiled on each run. Set NUMBA_CACHE_DIR to a writable directory to keep them.",
                RuntimeWarning,
                stacklevel=2,
            )
        return njit(nogil=True, **options)(fn)
