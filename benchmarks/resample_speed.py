"""Hash inputs: Pillow image by image against the compiled ``pipelines.resample`` batch by batch.

Why the hand-written resize exists: the profile needs, per image, Pillow's
``convert("L")`` and its LANCZOS resizes to a 32x32 thumbnail and an 8x9
grid (imagehash's pHash and dHash inputs). Three ways, all bit-identical
(checked here on every image), all on one core (BLAS limited to one thread,
as in the profile), on the real MNIST digits and on 256x256 RGB photo
crops, in batches of 256 as the profile forms them:

- Pillow: ``Image.fromarray``, ``convert("L")``, two ``resize`` calls per image;
- matrix products: Pillow's ``convert("L")``, then each resize of a batch of
  same-size images as two float64 BLAS products (the profile's code until
  2026-12-02, kept here as the peer it replaced);
- compiled: ``features.batch_hash_inputs``, gray and both resizes in one
  numba call per batch, straight from the padded RGB batch.

Run: .venv/bin/python benchmarks/resample_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from audit.sample_data import mnist_digits, photo_crops
from pipelines.features import batch_hash_inputs
from pipelines.resample import lanczos_taps

BATCH = 256
Inputs = tuple[np.ndarray, np.ndarray]


def pillow(images: np.ndarray) -> Inputs:
    thumbs, grids = [], []
    for image in images:
        gray = Image.fromarray(image.squeeze()).convert("L")
        thumbs.append(np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS)))
        grids.append(np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS)))
    return np.stack(thumbs), np.stack(grids)


def _dense(in_size: int, out_size: int) -> np.ndarray:
    """The (out, in) float64 weight matrix of ``lanczos_taps``."""
    first, count, weights = lanczos_taps(in_size, out_size)
    matrix = np.zeros((out_size, in_size))
    for out in range(out_size):
        matrix[out, first[out] : first[out] + count[out]] = weights[out, : count[out]]
    return matrix


def _clip8(sums: np.ndarray) -> np.ndarray:
    np.multiply(sums, 1.0 / (1 << 22), out=sums)
    np.floor(sums, out=sums)
    return np.clip(sums, 0.0, 255.0, out=sums)


def _products(grays: np.ndarray, width: int, height: int) -> np.ndarray:
    """The former ``resize_gray``: both passes as BLAS products, exact in float64."""
    out = np.empty((len(grays), height, width), np.uint8)
    step = max(1, (1 << 19) // grays[0].size)
    for start in range(0, len(grays), step):
        x = grays[start : start + step].astype(np.float64)
        n, h, w = x.shape
        if width != w:
            x = _clip8(x.reshape(n * h, w) @ _dense(w, width).T + (1 << 21)).reshape(n, h, width)
        if height != h:
            columns = x.transpose(1, 0, 2).reshape(h, n * width)
            x = _clip8(_dense(h, height) @ columns + (1 << 21)).reshape(height, n, width)
            x = x.transpose(1, 0, 2)
        out[start : start + step] = x
    return out


def products(images: np.ndarray) -> Inputs:
    grays = np.stack([np.asarray(Image.fromarray(im.squeeze()).convert("L")) for im in images])
    parts = [
        (_products(grays[k : k + BATCH], 32, 32), _products(grays[k : k + BATCH], 9, 8))
        for k in range(0, len(grays), BATCH)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def compiled(images: np.ndarray) -> Inputs:
    parts = []
    for k in range(0, len(images), BATCH):
        batch = images[k : k + BATCH]
        shapes = np.tile(batch.shape[1:], (len(batch), 1))
        parts.append(batch_hash_inputs(batch.reshape(len(batch), -1), shapes))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def best(fn: Callable[[np.ndarray], Inputs], images: np.ndarray, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(images)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; best counts")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    digits, _ = mnist_digits()
    sets = {
        "5,000 MNIST 28x28": digits[..., None],
        "2,000 RGB photos 256x256": photo_crops(2000, size=256, seed=1),
    }
    methods = {"Pillow": pillow, "matrix products": products, "compiled": compiled}
    print(f"{'dataset':26s} {'method':16s} {'seconds':>8s} {'vs Pillow':>10s} identical")
    with threadpool_limits(limits=1, user_api="blas"):
        for name, images in sets.items():
            reference = pillow(images)
            slow = best(pillow, images, args.repeat)
            for method, fn in methods.items():
                same = all(np.array_equal(a, b) for a, b in zip(reference, fn(images), strict=True))
                seconds = best(fn, images, args.repeat)
                print(f"{name:26s} {method:16s} {seconds:8.3f} {slow / seconds:9.1f}x {same}")


if __name__ == "__main__":
    main()
