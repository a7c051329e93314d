"""Radius search over 64-bit hashes: FAISS's exact binary index, and multi-index hashing.

``radius_join`` (what the checks call) uses FAISS ``IndexBinaryFlat``: exact,
SIMD popcount in C++, and measured faster than the multi-index below
(benchmarks/search_scale.py). ``HashIndex`` stays as the chunk-key scheme for
a distributed join (equal chunks are join keys) and as a benchmark peer.

Multi-index hashing:

Split each hash into ``m`` chunks. Two hashes within Hamming distance ``r``
have, by the pigeonhole principle, at least one chunk within ``r // m`` bits.
So for every chunk we look up each query's chunk value, and its variants
with up to ``r // m`` bits flipped, in a sorted table of the indexed hashes'
chunk values. Every candidate is then checked on the full 64 bits. Exact
(same answer as brute force), with memory bounded by processing queries in
blocks. Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
Multi-Index Hashing", CVPR 2012.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from audit.hashes import hamming

BITS = 64
DIRECT_BITS = 24  # chunks this narrow get a direct-address bucket table (2**24 offsets)


@dataclass(frozen=True)
class Matches:
    """Pairs ``(left[i], right[j])`` within the radius and their distances."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray


def chunk_ranges(m: int) -> list[tuple[int, int]]:
    """``m`` (shift, width) bit ranges that tile 64 bits as evenly as possible."""
    widths = [BITS // m + (1 if k < BITS % m else 0) for k in range(m)]
    shifts = np.cumsum([0, *widths[:-1]])
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


def flip_masks(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit mask with at most ``radius`` bits set."""
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << b for b in bits) for bits in combinations(range(width), k))
    return np.array(masks, dtype=np.uint64)


def chunk_count(n_indexed: int, radius: int) -> int:
    """Chunks per hash that minimise probes plus expected candidates per query.

    With ``m`` chunks of ``w = 64 / m`` bits searched within ``s = radius // m``
    bits, a query makes ``m * sum(C(w, k), k <= s)`` probes and each probe
    finds about ``n / 2**w`` candidates (uniform hashes).
    """
    best, best_cost = 1, math.inf
    for m in range(1, min(radius + 1, 16) + 1):
        width = BITS // m
        probes = m * sum(math.comb(width, k) for k in range(radius // m + 1))
        cost = probes * (1 + n_indexed / 2.0**width)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


class HashIndex:
    """A multi-index over a fixed array of 64-bit hashes."""

    def __init__(self, hashes: np.ndarray, radius: int) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self.radius = radius
        self.chunks = chunk_ranges(chunk_count(len(self.hashes), radius))
        self.sub_radius = radius // len(self.chunks)
        self._tables = []
        for shift, width in self.chunks:
            keys = (self.hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            order = np.argsort(keys, kind="stable")
            offsets = None
            if width <= DIRECT_BITS:  # bucket start of every chunk value: O(1) lookups
                counts = np.bincount(keys.astype(np.int64), minlength=1 << width)
                offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            self._tables.append((keys[order], order, flip_masks(width, self.sub_radius), offsets))

    def search(self, queries: np.ndarray, block: int = 4096) -> Matches:
        """All (query, indexed) pairs within the radius, each pair once."""
        parts = [
            self._search_block(queries[s : s + block], s) for s in range(0, len(queries), block)
        ]
        if not parts:
            empty = np.zeros(0, np.int64)
            return Matches(empty, empty, empty)
        return Matches(*(np.concatenate(p) for p in zip(*parts, strict=True)))

    def _search_block(self, queries: np.ndarray, offset: int) -> tuple[np.ndarray, ...]:
        """Candidates of one block of queries from every chunk, verified on 64 bits."""
        q = np.ascontiguousarray(queries, dtype=np.uint64)
        found_q, found_i = [], []
        for (shift, width), (keys, order, flips, offsets) in zip(
            self.chunks, self._tables, strict=True
        ):
            qk = (q >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            probes = (qk[:, None] ^ flips[None, :]).reshape(-1)
            if offsets is not None:
                lo, hi = offsets[probes.astype(np.int64)], offsets[probes.astype(np.int64) + 1]
            else:
                lo = np.searchsorted(keys, probes, side="left")
                hi = np.searchsorted(keys, probes, side="right")
            counts = hi - lo
            if not counts.any():
                continue
            query_of_probe = np.repeat(np.arange(len(q)), len(flips))
            qi = np.repeat(query_of_probe, counts)
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            pos = starts + np.arange(counts.sum())
            found_q.append(qi)
            found_i.append(order[pos])
        if not found_q:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        qi, ii = np.concatenate(found_q), np.concatenate(found_i)
        pair = np.unique(qi.astype(np.uint64) << np.uint64(32) | ii.astype(np.uint64))
        qi, ii = (
            (pair >> np.uint64(32)).astype(np.int64),
            (pair & np.uint64(0xFFFFFFFF)).astype(np.int64),
        )
        dist = hamming(q[qi], self.hashes[ii]).astype(np.int64)
        keep = dist <= self.radius
        return qi[keep] + offset, ii[keep], dist[keep]


SMALL_JOIN_PAIRS = 1_000_000
"""Below this many pairs NumPy brute force answers before FAISS has built its index."""


def binary_index(hashes: np.ndarray) -> Any:
    """A FAISS exact binary index (IndexBinaryFlat) over 64-bit hashes; row k is hash k."""
    import faiss

    index = faiss.IndexBinaryFlat(BITS)
    index.add(np.ascontiguousarray(hashes, dtype=np.uint64).view(np.uint8).reshape(-1, 8))
    return index


def range_pairs(index: Any, left: np.ndarray, radius: int, block: int = 65536) -> Matches:
    """Every ``(left[i], indexed j)`` within the radius, querying ``block`` hashes at a time."""
    parts = []
    for s in range(0, len(left), block):
        q = np.ascontiguousarray(left[s : s + block], dtype=np.uint64).view(np.uint8).reshape(-1, 8)
        lims, dist, ids = index.range_search(q, radius + 1)  # FAISS keeps distance < radius + 1
        rows = np.repeat(np.arange(len(q), dtype=np.int64), np.diff(lims.astype(np.int64)))
        parts.append((rows + s, ids.astype(np.int64), dist.astype(np.int64)))
    if not parts:
        empty = np.zeros(0, np.int64)
        return Matches(empty, empty, empty)
    return Matches(*(np.concatenate(p) for p in zip(*parts, strict=True)))


def faiss_pairs(left: np.ndarray, right: np.ndarray, radius: int, block: int = 65536) -> Matches:
    """Every pair within the radius with FAISS's exact binary index (SIMD popcount, C++).

    benchmarks/search_scale.py measured it 40x faster than the multi-index
    above on uniform hashes and immune to clustered ones, so the local join
    uses it; queries go in blocks to bound the result buffers.
    """
    return range_pairs(binary_index(right), left, radius, block)


def radius_join(left: np.ndarray, right: np.ndarray, radius: int) -> Matches:
    """All pairs ``(left[i], right[j])`` within the radius: FAISS, or NumPy when tiny."""
    if len(left) * len(right) <= SMALL_JOIN_PAIRS:
        return brute_force_pairs(left, right, radius)
    return faiss_pairs(left, right, radius)


def self_pairs(hashes: np.ndarray, radius: int) -> Matches:
    """Pairs ``i < j`` of one array within the radius."""
    found = radius_join(hashes, hashes, radius)
    keep = found.left < found.right
    return Matches(found.left[keep], found.right[keep], found.distance[keep])


def brute_force_pairs(
    left: np.ndarray, right: np.ndarray, radius: int, block: int = 2048
) -> Matches:
    """Every pair within the radius by comparing all pairs, ``block`` rows at a time."""
    r = right.astype(np.uint64)
    parts = []
    for s in range(0, len(left), block):
        dist = np.bitwise_count(left[s : s + block].astype(np.uint64)[:, None] ^ r[None, :])
        li, ri = np.nonzero(dist <= radius)
        parts.append((li.astype(np.int64) + s, ri.astype(np.int64), dist[li, ri].astype(np.int64)))
    if not parts:
        empty = np.zeros(0, np.int64)
        return Matches(empty, empty, empty)
    return Matches(*(np.concatenate(p) for p in zip(*parts, strict=True)))
