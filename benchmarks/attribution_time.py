"""Wall time and peak memory of ``leakage-audit audit`` on the 5,000 real MNIST digits.

The digits are split 4,000 train / 1,000 test (seeded) and written as an npz;
``audit`` then profiles them, runs every check and the gate, trains the
reference CNN and runs every counterfactual (retraining included) on the
machine's CPU cores. The peer, in the same process, is ``check`` alone on the
same file: the share of the time that training and attribution add.
Target (issue 6): under 5 minutes on 2 cores.

Run: .venv/bin/python benchmarks/attribution_time.py [--epochs 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from audit.cli import main
from audit.sample_data import mnist_digits


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="attribution-time-"))
    x, y = mnist_digits()
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:4000], order[4000:]
    data = root / "mnist.npz"
    np.savez(data, x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])
    rows = []
    start = time.perf_counter()
    main(["check", str(data), "--out", str(root / "check"), "--no-cache", "-q"])
    rows.append(("check (peer)", time.perf_counter() - start, peak_rss_mib()))
    start = time.perf_counter()
    main(
        [
            "audit",
            str(data),
            "--out",
            str(root / "audit"),
            "--no-cache",
            "-q",
            "--epochs",
            str(args.epochs),
        ]
    )
    seconds = time.perf_counter() - start
    rows.append(("audit (check + training + attribution)", seconds, peak_rss_mib()))
    report = json.loads((root / "audit" / "report.json").read_text())
    a = report["attribution"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 4,000 train / 1,000 test digits")
    print(f"{'step':<42}{'seconds':>9}{'peak RSS MiB':>14}")
    for name, secs, rss in rows:
        print(f"{name:<42}{secs:>9.1f}{rss:>14.0f}")
    print(
        f"audit / check: {rows[1][1] / rows[0][1]:.1f}x; target under 300 s: "
        f"{'met' if seconds < 300 else 'NOT met'}"
    )
    epochs = len(a["history"].get("loss", []))
    print(
        f"train {a['train_accuracy']:.4f}, test {a['test_accuracy']:.4f}, verdict {a['verdict']}, "
        f"epochs run {epochs}; top causes: "
        + ", ".join(f"{c['cause']} {c['points']}" for c in a["causes"][:3])
    )


if __name__ == "__main__":
    run()
