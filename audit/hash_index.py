"""Radius search over 64-bit hashes without an all-pairs loop: multi-index hashing.

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

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from audit.hashes import hamming

BITS = 64


@dataclass(frozen=True)
class Matches:
    """Pairs ``(left[i], right[j])`` within the radius and their distances."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray


def _chunks(m: int) -> list[tuple[int, int]]:
    """``m`` (shift, width) bit ranges that tile 64 bits as evenly as possible."""
    widths = [BITS // m + (1 if k < BITS % m else 0) for k in range(m)]
    shifts = np.cumsum([0, *widths[:-1]])
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


def _flips(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit mask with at most ``radius`` bits set."""
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << b for b in bits) for bits in combinations(range(width), k))
    return np.array(masks, dtype=np.uint64)


def chunk_count(radius: int) -> int:
    """Chunks per hash: enough that each chunk is searched within 0-2 bits."""
    return max(1, min(16, (radius + 3) // 3 + 1)) if radius > 0 else 1


class HashIndex:
    """A multi-index over a fixed array of 64-bit hashes."""

    def __init__(self, hashes: np.ndarray, radius: int) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self.radius = radius
        self.chunks = _chunks(chunk_count(radius))
        self.sub_radius = radius // len(self.chunks)
        self._tables = []
        for shift, width in self.chunks:
            keys = (self.hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            order = np.argsort(keys, kind="stable")
            self._tables.append((keys[order], order, _flips(width, self.sub_radius)))

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
        for (shift, width), (keys, order, flips) in zip(self.chunks, self._tables, strict=True):
            qk = (q >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            probes = (qk[:, None] ^ flips[None, :]).reshape(-1)
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


BRUTE_FORCE_PAIRS = 50_000_000
"""Below this many pairs, blocked brute force is faster than the index (about 0.1 s).

Real perceptual hashes cluster (thousands of digits within a few bits), which
fills the index's chunk buckets; the index pays off on large inputs only.
"""


def radius_join(left: np.ndarray, right: np.ndarray, radius: int) -> Matches:
    """All pairs ``(left[i], right[j])`` within the radius (brute force when small)."""
    if len(left) * len(right) <= BRUTE_FORCE_PAIRS:
        return brute_force_pairs(left, right, radius)
    return HashIndex(right, radius).search(left)


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
