"""Multi-index hashing returns exactly what brute force returns."""

from __future__ import annotations

import numpy as np
import pytest

from audit.hash_index import HashIndex, brute_force_pairs, self_pairs


def _random_hashes(rng, n):
    return rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(
        2
    ) + rng.integers(0, 2, n).astype(np.uint64)


def _plant_near(rng, base, n, max_bits):
    picks = rng.choice(len(base), n, replace=False)
    out = base[picks].copy()
    for k in range(n):
        for bit in rng.choice(64, int(rng.integers(0, max_bits + 1)), replace=False):
            out[k] ^= np.uint64(1) << np.uint64(int(bit))
    return out


def _as_set(m):
    return set(zip(m.left.tolist(), m.right.tolist(), m.distance.tolist(), strict=True))


@pytest.mark.parametrize("radius", [0, 3, 6, 10, 12], ids=lambda r: f"radius-{r}")
def test_index_equals_brute_force(radius):
    rng = np.random.default_rng(radius)
    indexed = _random_hashes(rng, 3000)
    queries = np.concatenate([_random_hashes(rng, 500), _plant_near(rng, indexed, 300, radius + 2)])
    found = HashIndex(indexed, radius).search(queries, block=97)
    expected = brute_force_pairs(queries, indexed, radius)
    assert len(expected.left) >= 60  # the planted pairs are there to be found
    assert _as_set(found) == _as_set(expected)


def test_self_pairs_are_each_pair_once():
    rng = np.random.default_rng(1)
    base = _random_hashes(rng, 1000)
    hashes = np.concatenate([base, _plant_near(rng, base, 200, 5)])
    found = self_pairs(hashes, 5)
    expected = brute_force_pairs(hashes, hashes, 5)
    keep = expected.left < expected.right
    assert _as_set(found) == set(
        zip(
            expected.left[keep].tolist(),
            expected.right[keep].tolist(),
            expected.distance[keep].tolist(),
            strict=True,
        )
    )


def test_identical_hashes_all_pair_up():
    hashes = np.array([7, 7, 7, 2**63], dtype=np.uint64)
    found = self_pairs(hashes, 0)
    assert sorted(zip(found.left.tolist(), found.right.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 2),
    ]


def test_index_and_brute_force_agree_on_clustered_real_hashes(digits):
    from audit.config import ProfileConfig
    from pipelines.profile import profile_source
    from pipelines.sources import from_arrays

    hashes = profile_source(from_arrays({"a": (digits[0], None)}), ProfileConfig())[
        "phash"
    ].to_numpy()
    found = HashIndex(hashes, 10).search(hashes)
    assert _as_set(found) == _as_set(brute_force_pairs(hashes, hashes, 10))


@pytest.mark.parametrize("radius", [0, 4, 10], ids=lambda r: f"radius-{r}")
def test_faiss_join_equals_brute_force(radius):
    from audit.hash_index import faiss_pairs

    rng = np.random.default_rng(100 + radius)
    indexed = _random_hashes(rng, 4000)
    queries = np.concatenate([_random_hashes(rng, 300), _plant_near(rng, indexed, 300, radius + 2)])
    assert _as_set(faiss_pairs(queries, indexed, radius, block=128)) == _as_set(
        brute_force_pairs(queries, indexed, radius)
    )
