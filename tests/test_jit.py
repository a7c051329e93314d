"""Kernels compile where numba cannot cache them (a read-only install) instead of failing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numba import njit

from audit import jit


def _uncacheable(name: str) -> object:
    """A function whose source file does not exist: numba finds no place for its cache."""
    namespace: dict[str, object] = {"__name__": f"fake_module_{name}"}
    source = "def add(x, y):\n    return x + y\n"
    exec(compile(source, f"/nonexistent/{name}/kernels.py", "exec"), namespace)
    return namespace["add"]


def test_numba_refuses_to_cache_such_a_function():
    with pytest.raises(RuntimeError, match="no locator available"):
        njit(cache=True)(_uncacheable("plain"))


def test_kernel_compiles_it_in_memory_and_warns_once_per_module():
    with pytest.warns(RuntimeWarning, match="compiled on each run"):
        add = jit.kernel(_uncacheable("warned"))
    assert add(2, 3) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = jit.kernel(_uncacheable("warned"))  # same module: no second warning
    assert again(4, 5) == 9


def test_kernel_caches_where_it_can():
    def double(x):
        return 2 * x

    compiled = jit.kernel(double)
    assert compiled(21) == 42
    assert compiled._cache.__class__.__name__ == "FunctionCache"


def test_summing_kernel_reorders_sums_but_keeps_nan_and_inf():
    def finite_sum(x):
        total = 0.0
        for v in x:
            if math.isfinite(v):
                total += v
        return total

    def plain_sum(x):
        total = 0.0
        for v in x:
            total += v
        return total

    x = np.random.default_rng(0).random(10_001)
    x[3], x[7] = np.nan, np.inf
    assert jit.summing_kernel(finite_sum)(x) == pytest.approx(x[np.isfinite(x)].sum(), rel=1e-12)
    assert np.isnan(jit.summing_kernel(plain_sum)(x))
