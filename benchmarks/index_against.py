"""Incremental ingestion check: ``check NEW --against INDEX`` for a small batch and a large index.

The index holds 100,000 32x32 RGB crops of eight real photos (scikit-image's
colour samples). The batch holds 1,000 PNG files: 900 new images (crops of two
held-out photos, scikit-learn's, and real MNIST digits) plus 50 exact and 50
near (JPEG quality 75 plus noise) copies of indexed images. Times ``index
build`` once, then ``check --against`` in this process (first and second run)
and as a fresh process (Python and TensorFlow start-up included). The peer
is what a team does without an index: ``check`` the whole dataset with the
batch as a split (re-profiling the 100,000 images). Also reports the recall of
the planted copies and the new images wrongly flagged.

Run: .venv/bin/python benchmarks/index_against.py [--index-size 100000 --batch 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from audit.cli import main
from audit.sample_data import mnist_digits, sample_photos, save_image

INDEX_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "retina",
    "hubble_deep_field",
    "immunohistochemistry",
    "colorwheel",
)


def crops(photos: list[np.ndarray], n: int, seed: int, side: int = 32) -> np.ndarray:
    """``n`` random square crops (side 24 to 160 px) of ``photos``, resized to ``side``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, side, side, 3), np.uint8)
    for k in range(n):
        photo = photos[k % len(photos)]
        h, w = photo.shape[:2]
        size = int(rng.integers(24, min(160, h, w)))
        y, x = int(rng.integers(0, h - size)), int(rng.integers(0, w - size))
        crop = Image.fromarray(photo[y : y + size, x : x + size])
        out[k] = np.asarray(crop.resize((side, side), Image.Resampling.BILINEAR))
    return out


def near_copy(image: np.ndarray, seed: int) -> np.ndarray:
    """JPEG quality 75 and Gaussian noise (sigma 3) of an image."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=75)
    jpeg = np.asarray(Image.open(buffer)).astype(float)
    noise = np.random.default_rng(seed).normal(0, 3, jpeg.shape)
    return np.clip(np.round(jpeg + noise), 0, 255).astype(np.uint8)


def build(root: Path, index_size: int, batch_size: int) -> tuple[Path, Path, Path, dict[str, str]]:
    """The index dataset (npz), the batch folder, the peer's npz, and the planted batch ids."""
    import skimage.data

    photos = [getattr(skimage.data, name)()[..., :3] for name in INDEX_PHOTOS]
    indexed = crops(photos, index_size, seed=1)
    labels = np.arange(index_size) % len(INDEX_PHOTOS)
    index_npz = root / "index.npz"
    np.savez(index_npz, x_train=indexed, y_train=labels)
    n_new = batch_size - 100
    held_out = crops(sample_photos(), n_new // 2, seed=2)
    digits, _ = mnist_digits()
    padded = np.pad(digits[: n_new - len(held_out)], ((0, 0), (2, 2), (2, 2)))  # 28 -> 32 px
    digits_rgb = np.repeat(padded[..., None], 3, axis=-1)
    rng = np.random.default_rng(3)
    picked = rng.choice(index_size, 100, replace=False)
    copies = [indexed[k] for k in picked[:50]] + [
        near_copy(indexed[k], int(k)) for k in picked[50:]
    ]
    batch_images = np.concatenate([held_out, digits_rgb, np.stack(copies)])
    batch_labels = np.concatenate(
        [np.full(len(held_out), 8), np.full(len(digits_rgb), 9), labels[picked]]
    )
    batch = root / "batch"
    planted: dict[str, str] = {}
    for k, (image, label) in enumerate(zip(batch_images, batch_labels, strict=True)):
        ident = f"c{label}/{k:05d}.png"
        save_image(image, batch / ident)
        if k >= n_new:
            planted[ident] = "exact" if k < n_new + 50 else "near"
    peer_npz = root / "peer.npz"
    np.savez(
        peer_npz,
        x_train=indexed,
        y_train=labels,
        x_test=batch_images,
        y_test=batch_labels,
    )
    return index_npz, batch, peer_npz, planted


def timed(argv: list[str]) -> tuple[float, int]:
    """Seconds and exit code of one in-process CLI run."""
    start = time.perf_counter()
    code = main(argv)
    return time.perf_counter() - start, code


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-size", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--skip-peer", action="store_true", help="do not run the full re-check")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="index-against-"))
    t0 = time.perf_counter()
    index_npz, batch, peer_npz, planted = build(root, args.index_size, args.batch)
    print(f"built data in {time.perf_counter() - t0:.1f} s under {root}")
    index = root / "index"
    rows = []
    seconds, _ = timed(["index", "build", str(index_npz), "--out", str(index), "--no-cache", "-q"])
    rows.append(("index build (once)", seconds, peak_rss_mib()))
    against = ["check", str(batch), "--against", str(index), "--no-cache", "-q"]
    first, code = timed([*against, "--out", str(root / "first")])
    rows.append(("check --against, 1st in process", first, peak_rss_mib()))
    second, _ = timed([*against, "--out", str(root / "second")])
    rows.append(("check --against, 2nd in process", second, peak_rss_mib()))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "audit.cli", *against, "--out", str(root / "cli")],
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    fresh = time.perf_counter() - start
    rows.append(("check --against, fresh process", fresh, float("nan")))
    if not args.skip_peer:
        peer, _ = timed(["check", str(peer_npz), "--out", str(root / "peer"), "--no-cache", "-q"])
        rows.append(("peer: full check, batch as a split", peer, peak_rss_mib()))
    report = json.loads((root / "second" / "report.json").read_text())
    finding = next(
        (f for f in report["findings"] if f["check"] == "leakage.indexed_duplicate"), None
    )
    flagged = set(finding["evidence"]["copies_to_drop"]) if finding else set()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; index {args.index_size:,} images,"
        f" batch {args.batch:,} files; exit code {code}"
    )
    print(f"{'step':<38}{'seconds':>9}{'peak RSS MiB':>14}")
    for name, secs, rss in rows:
        print(f"{name:<38}{secs:>9.2f}{rss:>14.0f}")
    if not args.skip_peer:
        print(f"speed-up of check --against (2nd) over the peer: {rows[-1][1] / second:.1f}x")
    for kind in ("exact", "near"):
        ids = {i for i, k in planted.items() if k == kind}
        print(f"planted {kind} copies found: {len(flagged & ids)}/{len(ids)}")
    print(f"new images flagged: {len(flagged - set(planted))}/{args.batch - len(planted)}")


if __name__ == "__main__":
    main_bench()
