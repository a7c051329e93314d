"""Statistics speed: the compiled kernels against the TensorFlow ops they replaced.

``pipelines.stats_kernels`` measures value statistics (min, max, mean, std,
per channel) and texture (sharpness, colourfulness) one image at a time.
Until the ninth session these were TensorFlow ops over a same-shape batch;
that code is kept below as the peer (``tf_stats``), traced once, run in the
same process on the same batches: 256 photo crops of 256x256 (JPEG-sized
work) and 256 MNIST digits. Times are the best of ``--repeat`` calls, wall
and CPU (TensorFlow uses both cores for one batch; the kernels use one, and
the profile runs one batch per core). The last column is the largest
difference between the two, relative to the figure.

Run: .venv/bin/python benchmarks/stats_speed.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

from audit.sample_data import mnist_digits, photo_crops
from pipelines.features import batch_stats
from pipelines.stats_kernels import LUMA, TEXTURE_SIDE


def _pad3(values: tf.Tensor) -> tf.Tensor:
    """Pad per-channel values [B, C<=3] to [B, 3] with NaN."""
    missing = 3 - tf.shape(values)[1]
    return tf.concat([values, tf.fill([tf.shape(values)[0], missing], np.nan)], axis=1)


def _stats_uint8(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics of 8-bit images from exact integer sums (no NaN possible).

    Rows are summed in int32 (a row of up to 33,000 pixels cannot overflow)
    and rows in int64: exact, and half the memory traffic of int64 throughout.
    """
    colour = images[..., :3]
    x = tf.cast(colour, tf.int32)
    s1 = tf.cast(tf.reduce_sum(tf.cast(tf.reduce_sum(x, axis=2), tf.int64), axis=1), tf.float64)
    s2 = tf.cast(tf.reduce_sum(tf.cast(tf.reduce_sum(x * x, axis=2), tf.int64), axis=1), tf.float64)
    hw = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float64)
    mean_c = s1 / hw
    var_c = tf.maximum(s2 / hw - tf.square(mean_c), 0.0)
    n = hw * tf.cast(tf.shape(s1)[1], tf.float64)
    mean = tf.reduce_sum(s1, axis=1) / n
    var = tf.maximum(tf.reduce_sum(s2, axis=1) / n - tf.square(mean), 0.0)
    return {
        "min": tf.cast(tf.reduce_min(colour, axis=[1, 2, 3]), tf.float32),
        "max": tf.cast(tf.reduce_max(colour, axis=[1, 2, 3]), tf.float32),
        "mean": tf.cast(mean, tf.float32),
        "std": tf.cast(tf.sqrt(var), tf.float32),
        "ch_mean": _pad3(tf.cast(mean_c, tf.float32)),
        "ch_std": _pad3(tf.cast(tf.sqrt(var_c), tf.float32)),
        "nonfinite": tf.zeros(tf.shape(x)[:1], tf.int64),
    }


def _stats(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Value statistics over the colour channels (alpha excluded), ignoring NaN/Inf."""
    if images.dtype == tf.uint8:
        return _stats_uint8(images)
    x = tf.cast(images[..., :3], tf.float32)
    finite = tf.math.is_finite(x)
    ones = tf.cast(finite, tf.float32)
    x0 = tf.where(finite, x, tf.zeros_like(x))
    n_c = tf.maximum(tf.reduce_sum(ones, axis=[1, 2]), 1.0)
    mean_c = tf.reduce_sum(x0, axis=[1, 2]) / n_c
    var_c = tf.reduce_sum(tf.square(x0 - mean_c[:, None, None, :]) * ones, axis=[1, 2]) / n_c
    n = tf.reduce_sum(n_c, axis=1)
    mean = tf.reduce_sum(mean_c * n_c, axis=1) / n
    var = tf.reduce_sum((var_c + tf.square(mean_c - mean[:, None])) * n_c, axis=1) / n
    per_image = tf.cast(tf.size(x[0]), tf.int64)
    return {
        "min": tf.reduce_min(tf.where(finite, x, np.inf), axis=[1, 2, 3]),
        "max": tf.reduce_max(tf.where(finite, x, -np.inf), axis=[1, 2, 3]),
        "mean": mean,
        "std": tf.sqrt(var),
        "ch_mean": _pad3(mean_c),
        "ch_std": _pad3(tf.sqrt(var_c)),
        "nonfinite": per_image - tf.cast(tf.reduce_sum(ones, axis=[1, 2, 3]), tf.int64),
    }


_OPPONENT = tf.constant(
    [[[[LUMA[0], 1.0, 0.5], [LUMA[1], -1.0, 0.5], [LUMA[2], 0.0, -1.0]]]], tf.float32
)  # 1x1 conv: RGB -> luma, red-green, yellow-blue
_LAPLACE = tf.constant([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], tf.float32)[:, :, None, None]


def _texture(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """Sharpness and colourfulness of a [B, H, W, C] batch, in the images' own value units.

    Sharpness is the standard deviation of the 4-neighbour Laplacian of the
    luma (low for blurred images; NaN below 3x3 pixels). Colourfulness is
    Hasler and Suesstrunk's metric (0 for grayscale). Both come from the
    central TEXTURE_SIDE square at full resolution: blur stays visible and a
    large photo costs no more than a small one. Drift checks divide both by
    each split's value range, so 0-1 and 0-255 splits compare.
    """
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    top, left = tf.maximum((h - TEXTURE_SIDE) // 2, 0), tf.maximum((w - TEXTURE_SIDE) // 2, 0)
    x = tf.cast(images[:, top : top + TEXTURE_SIDE, left : left + TEXTURE_SIDE], tf.float32)
    if images.dtype != tf.uint8:
        x = tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))
    x = tf.cond(
        tf.shape(x)[3] >= 3, lambda: x[..., :3], lambda: tf.tile(x[..., :1], [1, 1, 1, 3])
    )  # gray (+alpha) as R=G=B: colourfulness 0
    opponent = tf.nn.conv2d(x, _OPPONENT, 1, "VALID")
    lap = tf.nn.conv2d(opponent[..., :1], _LAPLACE, 1, "VALID")
    _, lap_var = tf.nn.moments(lap, axes=[1, 2, 3])
    mean, var = tf.nn.moments(opponent[..., 1:], axes=[1, 2])
    spread = tf.sqrt(tf.reduce_sum(var, axis=-1))
    return {
        "sharpness": tf.sqrt(lap_var),
        "colorfulness": spread + 0.3 * tf.sqrt(tf.reduce_sum(tf.square(mean), axis=-1)),
    }


def tf_stats(images: tf.Tensor) -> dict[str, tf.Tensor]:
    """The previous implementation: value statistics and texture as TensorFlow ops."""
    out = _stats(images)
    out.update(_texture(images))
    return out


def best(fn, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    wall = cpu = float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu


def largest_difference(ours: dict[str, np.ndarray], peer: dict[str, tf.Tensor]) -> float:
    """Largest relative difference over the figures both compute."""
    worst = 0.0
    for name, value in peer.items():
        if name == "nonfinite":
            continue
        a, b = np.asarray(ours[name], np.float64), value.numpy().astype(np.float64)
        both = np.isfinite(a) & np.isfinite(b)
        worst = max(worst, float(np.max(np.abs(a - b)[both] / np.maximum(np.abs(b[both]), 1.0))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="calls per measurement")
    args = parser.parse_args()
    digits = mnist_digits()[0][:256]
    batches = {
        "256 photos 256x256x3": np.stack(photo_crops(256, size=256, seed=1)),
        "256 digits 28x28x1": digits.reshape(256, 28, 28, 1),
    }
    peer = tf.function(tf_stats, autograph=False).get_concrete_function(
        tf.TensorSpec([None, None, None, None], tf.uint8)
    )
    print(f"{'batch':22s} {'method':24s} {'wall ms':>8s} {'CPU ms':>8s} {'max rel diff':>13s}")
    for name, images in batches.items():
        flat = images.reshape(len(images), -1)
        shapes = np.array([images.shape[1:]] * len(images), np.int64)
        tensor = tf.constant(images)
        rows = {
            "TensorFlow ops (before)": best(lambda t=tensor: peer(t), args.repeat),
            "compiled kernels (now)": best(lambda f=flat, s=shapes: batch_stats(f, s), args.repeat),
        }
        diff = largest_difference(batch_stats(flat, shapes), peer(tensor))
        for method, (wall, cpu) in rows.items():
            print(f"{name:22s} {method:24s} {wall * 1e3:8.1f} {cpu * 1e3:8.1f} {diff:13.1e}")
        (tw, tc), (kw, kc) = rows.values()
        print(f"{name:22s} {'kernels vs TF':24s} {tw / kw:7.1f}x {tc / kc:7.1f}x")


if __name__ == "__main__":
    main()
