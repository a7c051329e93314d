"""Wall time of ``leakage-audit check`` as a fresh process: no cache, then re-runs with it.

Builds the planted-leak digits of ``leakage_quality.py`` (5,000 real MNIST
digits and 390 test copies) in a temp dir, then times whole processes of
``leakage-audit check ROOT -q``, the best of ``--repeat`` each:

- ``--no-cache``: every image decoded and measured (the peer);
- with the cache filled: the Parquet table is read, TensorFlow is never
  imported, the checks, the gate and the reports run as before.

It also prints the start-up floor: a process that only imports what a
cached check imports (Great Expectations, pandas, SciPy, numba, FAISS).

Run: .venv/bin/python benchmarks/check_rerun.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from leakage_quality import build

from audit.sample_data import mnist_digits

CLI = Path(sys.executable).with_name("leakage-audit")

FLOOR = (
    "import great_expectations, pandas, scipy.stats, numba, faiss; "
    "import audit.run, audit.checks.leakage, reports.html"
)


def best_wall(command: list[str], repeat: int) -> float:
    """The shortest wall time of ``repeat`` runs of ``command`` (exit 0 or 1: gate outcome)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best counts")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    x, y = mnist_digits()
    with tempfile.TemporaryDirectory() as tmp:
        root, out, cache = Path(tmp) / "data", Path(tmp) / "out", Path(tmp) / "cache"
        planted = build(root, list(x), [int(v) for v in y], seed=5)
        base = [str(CLI), "check", str(root), "--out", str(out), "-q"]
        cached = [*base, "--cache-dir", str(cache)]
        subprocess.run(cached, capture_output=True, check=False)  # fills the cache
        rows = [
            ("check --no-cache", best_wall([*base, "--no-cache"], args.repeat)),
            ("check, profile cached", best_wall(cached, args.repeat)),
            ("imports only", best_wall([sys.executable, "-c", FLOOR], args.repeat)),
        ]
    print(f"{len(x)} digits + {len(planted)} planted copies, best of {args.repeat}")
    print(f"{'run':32s} {'seconds':>8s} {'vs --no-cache':>14s}")
    for name, seconds in rows:
        print(f"{name:32s} {seconds:8.2f} {rows[0][1] / seconds:13.2f}x")


if __name__ == "__main__":
    main()
