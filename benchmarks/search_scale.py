"""Near-duplicate candidate search at scale: our multi-index join against brute force and FAISS.

1M "train" x 100k "test" random 64-bit hashes, with 1,000 test hashes planted
within the radius of a train hash. Times index build and search, peak memory
(tracemalloc sees NumPy's buffers), and the recall of the planted pairs. Brute
force (NumPy, blocked) and FAISS's IndexBinaryFlat run on a query subset and
are extrapolated linearly; IndexBinaryMultiHash runs on all queries.

Run: .venv/bin/python benchmarks/search_scale.py [--train 1000000 --test 100000 --radius 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc

import numpy as np

from audit.hash_index import HashIndex, brute_force_pairs


def planted_hashes(n_train: int, n_test: int, n_planted: int, radius: int, seed: int = 0):
    """Random train/test hashes; the first ``n_planted`` test hashes are near a train hash."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 2**64, n_train, dtype=np.uint64)
    test = rng.integers(0, 2**64, n_test, dtype=np.uint64)
    sources = rng.choice(n_train, n_planted, replace=False)
    for k, src in enumerate(sources):
        value = int(train[src])
        for bit in rng.choice(64, int(rng.integers(0, radius + 1)), replace=False):
            value ^= 1 << int(bit)
        test[k] = np.uint64(value)
    return train, test, dict(zip(range(n_planted), sources.tolist(), strict=True))


def recall(left: np.ndarray, right: np.ndarray, planted: dict[int, int]) -> float:
    found = {(int(a), int(b)) for a, b in zip(left, right, strict=True) if int(a) in planted}
    return sum((q, t) in found for q, t in planted.items()) / len(planted)


def measure(fn):
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def faiss_range(index_factory, train, test, radius):
    import faiss

    index = index_factory(faiss)
    index.add(train.view(np.uint8).reshape(-1, 8))
    lims, _, ids = index.range_search(test.view(np.uint8).reshape(-1, 8), radius + 1)
    left = np.repeat(np.arange(len(test)), np.diff(lims.astype(np.int64)))
    return left, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1_000_000)
    parser.add_argument("--test", type=int, default=100_000)
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--subset", type=int, default=5_000, help="queries for brute force / flat")
    args = parser.parse_args()
    train, test, planted = planted_hashes(args.train, args.test, 1000, args.radius)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.train:,} x {args.test:,} "
        f"hashes, radius {args.radius}, 1,000 planted pairs"
    )
    rows = []

    index, build, build_mem = measure(lambda: HashIndex(train, args.radius))
    found, search, search_mem = measure(lambda: index.search(test))
    rows.append(
        (
            "leakage-audit multi-index",
            build + search,
            max(build_mem, search_mem),
            recall(found.left, found.right, planted),
            f"{len(index.chunks)} chunks, build {build:.1f}s",
        )
    )

    sub = test[: args.subset]
    sub_planted = {q: t for q, t in planted.items() if q < args.subset}
    bf, bf_s, bf_mem = measure(lambda: brute_force_pairs(sub, train, args.radius))
    rows.append(
        (
            "NumPy brute force",
            bf_s * len(test) / len(sub),
            bf_mem,
            recall(bf.left, bf.right, sub_planted),
            f"extrapolated from {len(sub):,} queries",
        )
    )
    try:
        import faiss  # noqa: F401

        (fl, fi), fl_s, fl_mem = measure(
            lambda: faiss_range(lambda f: f.IndexBinaryFlat(64), train, sub, args.radius)
        )
        rows.append(
            (
                "FAISS IndexBinaryFlat",
                fl_s * len(test) / len(sub),
                fl_mem,
                recall(fl, fi, sub_planted),
                f"extrapolated from {len(sub):,} queries",
            )
        )

        def multihash(f):
            idx = f.IndexBinaryMultiHash(64, 3, 21)
            idx.nflip = args.radius // 3
            return idx

        (ml, mi), ml_s, ml_mem = measure(lambda: faiss_range(multihash, train, test, args.radius))
        rows.append(
            (
                "FAISS IndexBinaryMultiHash",
                ml_s,
                ml_mem,
                recall(ml, mi, planted),
                "3 x 21 bits, nflip = radius // 3",
            )
        )
    except ImportError:
        print("faiss not installed (pip install -e '.[bench]'): FAISS rows skipped")
    ours_time = rows[0][1]
    print(f"{'method':30s} {'seconds':>9s} {'vs ours':>8s} {'peak MiB':>9s} {'recall':>7s}  note")
    for name, seconds, mem, rec, note in rows:
        print(
            f"{name:30s} {seconds:9.1f} {seconds / ours_time:7.1f}x {mem:9.0f} {rec:7.3f}  {note}"
        )


if __name__ == "__main__":
    main()
