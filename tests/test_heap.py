"""The garbage collector kept off what imports leave behind: frozen, and given back."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from audit import heap


class _Node:
    """An object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref:
    """A two-object cycle that nothing else refers to; a weak reference to one of them."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def unfrozen():
    """A heap with nothing frozen, and the collector on; restored after the test."""
    frozen, enabled = gc.get_freeze_count(), gc.isenabled()
    gc.unfreeze()
    gc.enable()
    yield
    if frozen:
        gc.freeze()
    if not enabled:
        gc.disable()


def test_imports_settled_collects_nothing_inside_and_freezes_what_it_made(unfrozen):
    with heap.imports_settled():
        assert not gc.isenabled()
        inside = _cycle()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.collect()
    assert inside() is not None  # frozen: later collections skip it
    gc.unfreeze()
    gc.collect()
    assert inside() is None


def test_imports_settled_keeps_a_disabled_collector_disabled(unfrozen):
    gc.disable()
    with heap.imports_settled():
        pass
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_settled_heap_freezes_for_the_block_and_gives_the_objects_back(unfrozen):
    before = _cycle()
    with heap.settled_heap():
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert before() is not None  # frozen: not walked, not freed
        during = _cycle()
        gc.collect()
        assert during() is None  # made inside: collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before() is None


def test_settled_heap_leaves_an_earlier_freeze_alone(unfrozen):
    gc.freeze()
    frozen = gc.get_freeze_count()
    with heap.settled_heap():
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == frozen
    gc.unfreeze()


def test_a_profile_gives_the_heap_back_as_it_found_it(unfrozen):
    from audit.config import ProfileConfig
    from pipelines.profile import profile_source
    from pipelines.sources import from_arrays

    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1), dtype=np.uint8)
    before = _cycle()
    table = profile_source(from_arrays({"train": (x, np.arange(6) % 2)}), ProfileConfig())
    assert len(table) == 6
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.collect()
    assert before() is None
