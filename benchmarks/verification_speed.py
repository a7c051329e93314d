"""Hash-candidate verification: the compiled kernel against the same scores in NumPy.

Every pHash candidate within the radius is confirmed on the 32x32 thumbnails
(``audit.similarity``: the best correlation over one-pixel shifts, for pairs
whose unshifted score is within reach of the threshold). ``numpy_pair_similarity``
gathers both thumbnails of a block of pairs and makes float32 passes per
shift; ``pair_similarity`` runs ``similarity_kernels`` (exact integer sums
straight from the thumbnail stacks). This script times both in one process
on the candidates of the 5,000 real MNIST digits (mirrored candidates
included, as ``--flip-invariant`` makes them) and prints how far the
scores differ and whether any pair changes side of the threshold.

Run: .venv/bin/python benchmarks/verification_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the thumbnails come from the profile's code

import numpy as np
from threadpoolctl import threadpool_limits

from audit import similarity_kernels
from audit.config import LeakageConfig
from audit.hash_index import radius_join, self_pairs
from audit.hashes import mirrored_phash, pack_bits, phash_bits
from audit.parallel import workers
from audit.sample_data import mnist_digits
from audit.similarity import numpy_pair_similarity, pair_similarity, shift_floor
from pipelines.features import gray_hash_inputs


def candidates(thumbs: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j, mirrored) within ``radius`` pHash bits, as the check's hash join finds them."""
    phash = pack_bits(phash_bits(thumbs))
    plain = self_pairs(phash, radius)
    flipped = radius_join(mirrored_phash(thumbs), phash, radius)
    keep = flipped.left != flipped.right
    i = np.concatenate([plain.left, flipped.left[keep]])
    j = np.concatenate([plain.right, flipped.right[keep]])
    mirrored = np.r_[np.zeros(len(plain.left), bool), np.ones(int(keep.sum()), bool)]
    return i, j, mirrored


def best_of(run: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeat`` runs, and the result."""
    best, out = float("inf"), np.empty(0)
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cfg = LeakageConfig()
    x, _ = mnist_digits()
    thumbs = gray_hash_inputs(list(x))[0]  # the profile's thumbnails
    i, j, mirrored = candidates(thumbs, cfg.phash_radius)
    shift, threshold = cfg.max_shift, cfg.similarity
    start = time.perf_counter()
    pair_similarity(thumbs, thumbs, i[:2], j[:2], mirrored[:2], shift, threshold)
    loaded = time.perf_counter() - start
    print(f"first call (compile, or load of the cached kernel): {loaded:.2f} s")
    floor = shift_floor(threshold)
    runs = {
        "NumPy, one thread": lambda: numpy_pair_similarity(
            thumbs, thumbs, i, j, mirrored, shift, threshold
        ),
        "compiled, one thread": lambda: similarity_kernels.pair_similarity(
            thumbs, thumbs, i, j, mirrored, shift, floor
        ),
        f"compiled, {workers()} threads": lambda: pair_similarity(
            thumbs, thumbs, i, j, mirrored, shift, threshold
        ),
    }
    with threadpool_limits(limits=1, user_api="blas"):  # "one thread" means one
        timed = {name: best_of(run, args.repeat) for name, run in list(runs.items())[:2]}
    name, run = list(runs.items())[2]
    timed[name] = best_of(run, args.repeat)
    peer_seconds, peer = timed["NumPy, one thread"]
    print(
        f"\n{len(i):,} pHash candidates (radius {cfg.phash_radius}, {int(mirrored.sum()):,} "
        f"mirrored) of {len(x):,} real MNIST digits, shift search {shift} px, best of {args.repeat}"
    )
    flips_at = f"flips at {threshold}"
    print(f"{'method':26s}{'seconds':>9s}{'speed-up':>10s}{'max diff':>11s}{flips_at:>14s}")
    for name, (seconds, scores) in timed.items():
        diff = np.abs(scores - peer).max()
        flips = int(((scores >= threshold) != (peer >= threshold)).sum())
        print(f"{name:26s}{seconds:>9.3f}{peer_seconds / seconds:>9.1f}x{diff:>11.1e}{flips:>14d}")


if __name__ == "__main__":
    main()
