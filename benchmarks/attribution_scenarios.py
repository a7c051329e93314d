"""How stable the gap attribution is across training seeds, scenario by scenario.

Builds the attribution issue's scenarios from the 5,000 real MNIST digits
(``audit.sample_data.gap_scenario``: 2,000 train / 500 test, one planted
cause each), then for every seed checks the data, trains the reference CNN
and attributes the gap, as the test suite does for two seeds. Prints one
row per scenario and seed (accuracies, verdict, the three largest causes)
and, per scenario, on how many seeds the expected cause came out on top
(for the clean split and 0-255 test data: on how many no cause reached
``min_points``).

Run: .venv/bin/python benchmarks/attribution_scenarios.py [--seeds 0 1 2 3 4 5]
     [--epochs 4] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from audit.attribution import attribute_source
from audit.config import AttributionConfig
from audit.run import run_check
from audit.sample_data import GAP_SCENARIOS, gap_scenario, mnist_digits
from pipelines.sources import from_arrays


def as_expected(attribution: dict, expected: frozenset[str], min_points: float) -> bool:
    """The expected cause is on top; with none expected, no cause reaches ``min_points``."""
    causes = attribution["causes"]
    if expected:
        return causes[0]["cause"] in expected
    return all(c["points"] < min_points for c in causes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--scenario", action="append", choices=list(GAP_SCENARIOS), help="repeatable; default all"
    )
    args = parser.parse_args()
    x, y = mnist_digits()
    min_points = AttributionConfig().min_points
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; epochs {args.epochs}")
    print(f"{'scenario':36s} {'seed':>4s} {'train':>6s} {'test':>6s} {'verdict':>8s}  top causes")
    summary = {}
    for name in args.scenario or list(GAP_SCENARIOS):
        source = from_arrays(gap_scenario(name, x, y))
        run = run_check(source)
        hits = 0
        for seed in args.seeds:
            start = time.perf_counter()
            cfg = AttributionConfig(epochs=args.epochs, seed=seed)
            attribution = attribute_source(source, run.table, run.result.leakage, cfg)
            top = ", ".join(f"{c['cause']} {c['points']:.1f}" for c in attribution["causes"][:3])
            hits += as_expected(attribution, GAP_SCENARIOS[name], min_points)
            print(
                f"{name:36s} {seed:4d} {attribution['train_accuracy']:6.3f} "
                f"{attribution['test_accuracy']:6.3f} {attribution['verdict']:>8s}  {top}  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        summary[name] = hits
    print("\nas expected (seeds):")
    for name, hits in summary.items():
        expected = " or ".join(sorted(GAP_SCENARIOS[name])) or f"no cause >= {min_points:g}"
        print(f"  {name:36s} {hits}/{len(args.seeds)}  ({expected})")


if __name__ == "__main__":
    main()
