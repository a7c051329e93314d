"""The alignment's compiled inner loops against the same steps in NumPy.

``audit.alignment_kernels`` replaces two NumPy stages of the thumbnail
alignment with numba kernels: the Gauss-Newton step (``numpy_step``) and the
warp-and-correlate that picks each pair's start (``numpy_correlations``).
The fit runs ``_fit_smoothed``'s schedule with either step. This script
times both ways in one process on the same candidate pairs, real MNIST
digits against their descriptor neighbours (a quarter of the queries
rotated, shifted or cropped copies), in blocks of 512 pairs on one thread
as ``aligned_similarity`` runs them, and prints how far the results differ.

Run: .venv/bin/python benchmarks/alignment_speed.py [--pairs 8192] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the thumbnails come from the profile's code

import numpy as np
from PIL import Image

from audit.alignment import (
    _fit_smoothed,
    correlations,
    moments,
    numpy_correlations,
    numpy_steps,
    smoothed,
    start_transforms,
)
from audit.descriptors import NeighbourIndex
from audit.sample_data import mnist_digits
from pipelines.features import gray_hash_inputs

BLOCK = 512


def candidate_pairs(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed (reference, query) thumbnails of descriptor candidates among real digits."""
    x, _ = mnist_digits()
    refs, queries = x[:4000], x[4000:].copy()
    for k in range(0, 250):
        img = Image.fromarray(refs[k * 7])
        edit = (img.rotate(5), img.transform((28, 28), Image.Transform.AFFINE, (1, 0, 2, 0, 1, 1)))
        queries[k] = np.asarray(edit[k % 2])
    a, b = (gray_hash_inputs(list(x))[0] for x in (refs, queries))  # the profile's thumbnails
    found = NeighbourIndex.of(a).candidates(b)
    pick = np.resize(np.arange(len(found)), n_pairs)
    return (
        smoothed(a[found["r"].to_numpy()[pick]]),
        smoothed(b[found["q"].to_numpy()[pick]]),
    )


def timed(run: Callable[[slice], np.ndarray], n: int, repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeat`` runs over blocks of BLOCK pairs, and the results."""
    best, out = float("inf"), np.empty(0)
    for _ in range(repeat):
        start = time.perf_counter()
        out = np.concatenate([run(slice(s, s + BLOCK)) for s in range(0, n, BLOCK)])
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sa, sb = candidate_pairs(args.pairs)
    starts = start_transforms(moments(sa), moments(sb))
    compile_start = time.perf_counter()
    _fit_smoothed(sa[:2], sb[:2], starts[0][:2])
    correlations(sa[:2], sb[:2], starts[0][:2])
    loaded = time.perf_counter() - compile_start
    print(f"first calls (compile, or load of the cached kernels): {loaded:.2f} s")
    n, rows = len(sa), []
    for name, numpy_run, compiled_run in [
        (
            "start scores (4 starts)",
            lambda s: np.stack([numpy_correlations(sa[s], sb[s], x[s]) for x in starts], 1),
            lambda s: np.stack([correlations(sa[s], sb[s], x[s]) for x in starts], 1),
        ),
        (
            "fit (6 + 3 steps)",
            lambda s: _fit_smoothed(sa[s], sb[s], starts[3][s], steps=numpy_steps),
            lambda s: _fit_smoothed(sa[s], sb[s], starts[3][s]),
        ),
    ]:
        t_np, out_np = timed(numpy_run, n, args.repeat)
        t_c, out_c = timed(compiled_run, n, args.repeat)
        diff = np.abs(out_np.astype(np.float64) - out_c).max(axis=1)
        rows.append(
            (name, t_np, t_c, float(np.median(diff)), float(diff.max()), int((diff > 1e-3).sum()))
        )
    print(f"\n{n:,} candidate pairs of real MNIST digits, blocks of {BLOCK}, one thread,", end=" ")
    print(f"best of {args.repeat}")
    print(
        f"{'stage':26s}{'NumPy s':>10s}{'compiled s':>12s}{'speed-up':>10s}"
        f"{'median diff':>13s}{'max diff':>11s}{'> 1e-3':>8s}"
    )
    for name, t_np, t_c, med, top, over in rows:
        cells = f"{t_np:>10.3f}{t_c:>12.3f}{t_np / t_c:>9.1f}x"
        print(f"{name:26s}{cells}{med:>13.1e}{top:>11.1e}{over:>8d}")


if __name__ == "__main__":
    main()
