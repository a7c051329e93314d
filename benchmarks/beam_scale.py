"""The Beam path on the local runner against the local path, and the Beam pair join as data doubles.

Part 1, images/second of profile + exact/near duplicate pairs on directory
trees of real MNIST PNGs (sizes doubling): the local path
(``profile_source`` + ``hash_pairs``) against ``run_beam`` on Beam's
DirectRunner, in process and with 2 worker processes (multi_processing).

Part 2, the near-duplicate join alone on synthetic 64-bit hashes with 1%
planted near pairs (1 to 10 bits apart), sizes doubling: Beam's salted
multi-index join (``near_candidates``, DirectRunner) against FAISS's exact
binary index in this process (what the local path runs). Reports seconds,
peak RSS, the growth per doubling, recall against FAISS, and an
extrapolation to 1,000,000 hashes.

Part 3, the cost of one full join group (HOT_KEY_ROWS rows on each side),
per Hamming distance: what the join's cost model charges per distance.

Run: .venv/bin/python benchmarks/beam_scale.py [--images 1250 2500 5000]
     [--hashes 12500 25000 50000 100000]   (``--images`` with no sizes skips part 1)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from audit.checks.leakage import hash_pairs
from audit.config import AuditConfig
from audit.hash_index import self_pairs
from audit.sample_data import mnist_digits, save_image
from audit.table import decoded
from pipelines import beam as beam_path
from pipelines.beam import near_candidates, run_beam
from pipelines.profile import profile_source
from pipelines.sources import open_source

MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def tree(root: Path, n: int) -> Path:
    """``n`` real digits (cycled, a tenth noised so they are new images) as ROOT/split/class."""
    x, y = mnist_digits()
    rng = np.random.default_rng(n)
    for k in range(n):
        image = x[k % len(x)]
        if k >= len(x):
            image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        split = "train" if k % 5 else "test"
        save_image(image, root / split / str(y[k % len(x)]) / f"{k:06d}.png")
    return root


def profile_rows(sizes: list[int]) -> None:
    """Part 1: seconds and images/second per size and path."""
    cfg = AuditConfig()
    print(f"{'images':>8s} {'path':34s} {'seconds':>8s} {'images/s':>9s} {'vs local':>9s}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            source = open_source(str(tree(Path(tmp) / "data", n)))
            start = time.perf_counter()
            table = profile_source(source, cfg.profile)
            hash_pairs(decoded(table).reset_index(drop=True), cfg.leakage)
            local = time.perf_counter() - start
            rows = [("local (tf.data, FAISS)", local)]
            for name, options in (
                ("Beam DirectRunner, in process", []),
                ("Beam DirectRunner, 2 processes", MULTI),
            ):
                start = time.perf_counter()
                run_beam(source, cfg.profile, cfg.leakage, "DirectRunner", options, f"{tmp}/w")
                rows.append((name, time.perf_counter() - start))
            for name, seconds in rows:
                print(
                    f"{n:>8,d} {name:34s} {seconds:>8.1f} {n / seconds:>9.0f} "
                    f"{local / seconds:>8.2f}x"
                )


def planted_hashes(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random 64-bit hashes; 1% of them near copies (1 to 10 bits) of others."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    for k in range(0, n // 50 * 2, 2):
        bits = rng.choice(64, int(rng.integers(1, 11)), replace=False)
        hashes[k + 1] = hashes[k] ^ np.uint64(sum(1 << int(b) for b in bits))
    return hashes


def beam_join(hashes: np.ndarray, radius: int) -> set[tuple[int, int]]:
    """Pairs the Beam join finds (DirectRunner, in process), read back from its output."""
    import apache_beam as beam

    rows = [(r, h, f"c{r}", b"") for r, h in enumerate(hashes.view(np.int64).tolist())]
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline(runner="DirectRunner") as pipeline:
            _ = (
                pipeline
                | beam.Create(rows)
                | near_candidates(radius, len(rows))
                | beam.Map(lambda c: f"{c[0]} {c[1]}")
                | beam.io.WriteToText(f"{tmp}/pairs")
            )
        lines = [line for path in Path(tmp).glob("pairs*") for line in path.read_text().split()]
    pairs = np.array(lines, dtype=np.int64).reshape(-1, 2)
    return set(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), strict=True))


def join_rows(sizes: list[int], radius: int = 10) -> None:
    """Part 2: the join's seconds per size, growth per doubling, recall, extrapolation."""
    print(
        f"\n{'hashes':>9s} {'chunks':>6s} {'Beam join s':>12s} {'FAISS s':>9s} {'pairs':>7s} "
        f"{'recall':>7s} {'peak RSS GiB':>13s}"
    )
    times = []
    for n in sizes:
        hashes = planted_hashes(n)
        start = time.perf_counter()
        truth = self_pairs(hashes, radius)
        faiss_s = time.perf_counter() - start
        start = time.perf_counter()
        found = beam_join(hashes, radius)
        beam_s = time.perf_counter() - start
        expected = set(zip(truth.left.tolist(), truth.right.tolist(), strict=True))
        recall = len(found & expected) / max(len(expected), 1)
        assert found <= expected, "the Beam join returned a pair beyond the radius"
        times.append(beam_s)
        chunks = beam_path.join_chunks(n, radius)
        print(
            f"{n:>9,d} {chunks:>6d} {beam_s:>12.1f} {faiss_s:>9.2f} {len(expected):>7,d} "
            f"{recall:>7.3f} {peak_gib():>13.1f}",
            flush=True,
        )
    if len(sizes) > 1:
        exponent = math.log(times[-1] / times[0]) / math.log(sizes[-1] / sizes[0])
        million = times[-1] * (1_000_000 / sizes[-1]) ** exponent
        print(
            f"growth: time ~ n^{exponent:.2f}; "
            f"1,000,000 hashes extrapolated: {million / 60:.0f} min"
        )


def peak_gib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def group_cost(rows: int = beam_path.HOT_KEY_ROWS) -> None:
    """Part 3: seconds for one full join group, and per distance."""
    rng = np.random.default_rng(1)
    hashes = rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64).tolist()
    entries = [(side, r, h, f"c{r}") for side in "xq" for r, h in enumerate(hashes)]
    start = time.perf_counter()
    found = list(beam_path._candidates(((0, 0), entries), 10))
    seconds = time.perf_counter() - start
    print(
        f"\none join group, {rows:,d} x {rows:,d} rows: {seconds:.2f} s, "
        f"{seconds / rows**2 * 1e9:.1f} ns per distance ({len(found)} pairs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="*", default=[1250, 2500, 5000])
    parser.add_argument("--hashes", type=int, nargs="+", default=[12500, 25000, 50000, 100000])
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    if args.images:
        profile_rows(args.images)
    join_rows(args.hashes)
    group_cost()


if __name__ == "__main__":
    main()
