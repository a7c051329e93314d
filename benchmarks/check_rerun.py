"""Wall time of ``leakage-audit check`` as a fresh process: its start-up, with and without cache.

Builds the planted-leak digits of ``leakage_quality.py`` (5,000 real MNIST
digits and 390 test copies) in a temp dir, then times whole processes of
``leakage-audit check ROOT -q``, best and median of ``--repeat`` each, the
configurations taking turns so that a slow spell of the VM hits them alike:

- ``--no-cache``: every image decoded and measured; by default in a second
  process while the first imports the checks and the gate
  (``pipelines.second_process``), and in one process (``[profile]
  second_process = false``, the peer);
- with the cache filled: the Parquet table is read, TensorFlow is never
  imported, the checks, the gate and the reports run as before;
- ``import tensorflow`` alone, plain and through the CLI's hook
  (``audit.tf_loading``: without the Keras that TensorFlow loads eagerly);
- the start-up floor: a process that only imports what a cached check
  imports (Great Expectations, pandas, SciPy, numba, FAISS);
- with ``--tree DIR``, the same two ``check`` runs from another checkout of
  leakage-audit (say ``git worktree add /tmp/old HEAD~3``), through its
  ``audit.cli.main`` in this venv: before against after, in one run.

Run: .venv/bin/python benchmarks/check_rerun.py [--repeat 5] [--tree DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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


HOOKED_TF = "from audit import tf_loading; tf_loading.install(); import tensorflow"


OLD_MAIN = "import sys; from audit.cli import main; sys.exit(main(sys.argv[1:]))"
"""A checkout's CLI, run the way its console script ran it before ``entry``."""


def wall(command: list[str], tree: Path | None = None) -> float:
    """Seconds of one run of ``command`` (exit 0 or 1: the gate's outcome), from ``tree``."""
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per row, taking turns")
    parser.add_argument("--tree", type=Path, help="another leakage-audit checkout to compare")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    x, y = mnist_digits()
    with tempfile.TemporaryDirectory() as tmp:
        root, out, cache = Path(tmp) / "data", Path(tmp) / "out", Path(tmp) / "cache"
        one = Path(tmp) / "one-process.toml"
        one.write_text("[profile]\nsecond_process = false\n")
        planted = build(root, list(x), [int(v) for v in y], seed=5)
        base = [str(CLI), "check", str(root), "--out", str(out), "-q"]
        cached = [*base, "--cache-dir", str(cache)]
        wall(cached)  # fills the cache (and compiles what a fresh checkout compiles once)
        commands = {
            "check --no-cache": [*base, "--no-cache"],
            "check --no-cache, one process": [*base, "--no-cache", "--config", str(one)],
            "check, profile cached": cached,
            "check, cached, one process": [*cached, "--config", str(one)],
            "import tensorflow": [sys.executable, "-c", "import tensorflow"],
            "import tensorflow, CLI hook": [sys.executable, "-c", HOOKED_TF],
            "imports only (cached check)": [sys.executable, "-c", FLOOR],
        }
        trees = dict.fromkeys(commands)
        if args.tree:
            old = [sys.executable, "-c", OLD_MAIN, *base[1:]]
            wall([*old, "--cache-dir", str(cache)], args.tree)  # its own caches and kernels
            commands[f"check --no-cache ({args.tree})"] = [*old, "--no-cache"]
            commands[f"check, profile cached ({args.tree})"] = [*old, "--cache-dir", str(cache)]
            trees.update({name: args.tree for name in list(commands)[-2:]})
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(wall(command, trees[name]))
    print(f"{len(x)} digits + {len(planted)} planted copies, {args.repeat} runs each")
    peer = statistics.median(times["check --no-cache, one process"])
    width = max(len(name) for name in times)
    print(f"{'run':{width}s} {'best s':>7s} {'median s':>9s} {'median vs one process':>22s}")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name:{width}s} {min(runs):7.2f} {median:9.2f} {peer / median:21.2f}x")


if __name__ == "__main__":
    main()
