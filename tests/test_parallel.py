"""ordered_map: results in order, a bounded number in flight, errors passed on."""

from __future__ import annotations

import threading
import time

import pytest

from audit import parallel
from audit.parallel import ordered_map


def test_results_come_in_item_order_whatever_finishes_first():
    def slow_first(k: int) -> int:
        time.sleep(0.02 if k % 3 == 0 else 0.0)
        return k * k

    assert list(ordered_map(slow_first, range(20))) == [k * k for k in range(20)]
    assert list(ordered_map(slow_first, [])) == []
    assert list(ordered_map(slow_first, [4])) == [16]


def test_at_most_two_items_per_thread_are_in_flight(monkeypatch):
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    started: list[int] = []
    lock = threading.Lock()

    def record(k: int) -> int:
        with lock:
            started.append(k)
        return k

    results = ordered_map(record, range(50))
    assert next(results) == 0
    time.sleep(0.05)  # let the pool run ahead as far as it may
    with lock:
        assert max(started) == 3  # items 0-3 submitted; one more per result taken
    assert list(results) == list(range(1, 50))


def test_an_error_in_a_block_reaches_the_caller():
    def fail_on_five(k: int) -> int:
        if k == 5:
            raise ValueError("block 5")
        return k

    with pytest.raises(ValueError, match="block 5"):
        list(ordered_map(fail_on_five, range(10)))
