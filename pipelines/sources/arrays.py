"""NumPy arrays: ``.npz`` files in the keras.datasets layout and in-memory arrays.

Arrays may be uint8 or float, ``N x H x W`` or ``N x H x W x C``; labels may be
integers, ``N x 1`` or one-hot. Ids are ``<split>/<index>``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from audit.errors import UserError
from pipelines.sources.base import Source, Split, fingerprint_files

NPZ_SPLITS = (
    ("train", "x_train", "y_train"),
    ("val", "x_val", "y_val"),
    ("test", "x_test", "y_test"),
)


def as_images(x: np.ndarray, where: str) -> np.ndarray:
    """Check and reshape an image array to N x H x W x C."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise UserError(f"{where}: expected images shaped N x H x W [x C], got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise UserError(f"{where}: image values must be numeric, got dtype {x.dtype}")
    if x.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"{where}: {x.shape[-1]} channels (expected 1 to 4) in shape {x.shape}")
    return x.astype(np.uint8) if x.dtype == bool else x


def as_labels(y: np.ndarray | None, n: int, where: str) -> np.ndarray:
    """Integer labels from integers, N x 1 or one-hot; -1 everywhere when absent."""
    if y is None:
        return np.full(n, -1, np.int64)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if len(y) != n:
        raise UserError(f"{where}: {len(y)} labels for {n} images")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise UserError(f"{where}: labels must be integers, got dtype {y.dtype}")
    return y.astype(np.int64)


def array_split(name: str, x: np.ndarray, y: np.ndarray) -> Split:
    """A Split over arrays, ids ``<name>/<index>``."""
    ids = [f"{name}/{i}" for i in range(len(x))]
    records = tf.data.Dataset.from_tensor_slices((x, y, tf.constant(ids, tf.string)))
    return Split(name, records, ids=tuple(ids), size=len(x))


def class_names_for(labels: Sequence[np.ndarray], names: Sequence[str] | None) -> tuple[str, ...]:
    """Class names: the given ones, else the label values as strings 0..max."""
    if names is not None:
        return tuple(str(n) for n in names)
    top = max((int(y.max()) for y in labels if len(y) and y.max() >= 0), default=-1)
    return tuple(str(i) for i in range(top + 1))


def from_arrays(
    splits: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    class_names: Sequence[str] | None = None,
    location: str = "<memory>",
) -> Source:
    """A Source from in-memory arrays: ``{"train": (x, y), "test": (x, y)}``."""
    built, labels = [], []
    for name, (x, y) in splits.items():
        where = f"{location}[{name}]"
        images = as_images(x, where)
        if len(images) == 0:
            raise UserError(f"{where}: split holds no images")
        ys = as_labels(y, len(images), where)
        labels.append(ys)
        built.append(array_split(name, images, ys))
    return Source(
        kind="memory",
        location=location,
        payload="image",
        splits=tuple(built),
        class_names=class_names_for(labels, class_names),
    )


def load_npz(path: Path) -> Source:
    """Read a keras.datasets-style ``.npz`` (x_train, y_train, x_test, y_test[, x_val, y_val])."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    present = [(s, xk, yk) for s, xk, yk in NPZ_SPLITS if xk in arrays]
    if not present:
        raise UserError(f"{path}: no x_train/x_test arrays (found: {', '.join(arrays) or 'none'})")
    names = arrays.get("class_names")
    source = from_arrays(
        {s: (arrays[xk], arrays.get(yk)) for s, xk, yk in present},
        class_names=None if names is None else [str(n) for n in names],
        location=str(path),
    )
    return Source(
        kind="npz",
        location=str(path.resolve()),
        payload="image",
        splits=source.splits,
        class_names=source.class_names,
        fingerprint=fingerprint_files("npz", [path.resolve()]),
    )
