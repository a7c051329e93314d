"""Hash-input resizing: Pillow image by image against ``pipelines.resample`` batch by batch.

Why the hand-written resize exists: the profile needs, per image, Pillow's
LANCZOS resize of the grayscale image to a 32x32 thumbnail and an 8x9 grid
(imagehash's pHash and dHash inputs). Pillow does one image per call;
``resize_gray`` does a batch of same-size images with two matrix products,
bit-identical (checked here on every image). Both run on one core (BLAS
limited to one thread, as in the profile), on the real MNIST digits and on
256x256 photo crops, in batches of 256 as the profile forms them.

Run: .venv/bin/python benchmarks/resample_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from audit.sample_data import mnist_digits, photo_crops
from pipelines.features import gray_array
from pipelines.resample import resize_gray

BATCH = 256


def pillow(grays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thumbs, grids = [], []
    for gray in grays:
        image = Image.fromarray(gray)
        thumbs.append(np.asarray(image.resize((32, 32), Image.Resampling.LANCZOS)))
        grids.append(np.asarray(image.resize((9, 8), Image.Resampling.LANCZOS)))
    return np.stack(thumbs), np.stack(grids)


def batched(grays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parts = [
        (resize_gray(grays[k : k + BATCH], 32, 32), resize_gray(grays[k : k + BATCH], 9, 8))
        for k in range(0, len(grays), BATCH)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def best(fn, grays: np.ndarray, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(grays)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; best counts")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    digits, _ = mnist_digits()
    photos = np.stack([gray_array(p) for p in photo_crops(2000, size=256, seed=1)])
    sets = {"5,000 MNIST 28x28": digits, "2,000 photos 256x256": photos}
    print(f"{'dataset':22s} {'Pillow s':>9s} {'batched s':>10s} {'speed-up':>9s} identical")
    with threadpool_limits(limits=1, user_api="blas"):
        for name, grays in sets.items():
            pairs = zip(pillow(grays), batched(grays), strict=True)
            same = all(np.array_equal(a, b) for a, b in pairs)
            slow, fast = best(pillow, grays, args.repeat), best(batched, grays, args.repeat)
            print(f"{name:22s} {slow:9.3f} {fast:10.3f} {slow / fast:8.1f}x {same}")


if __name__ == "__main__":
    main()
