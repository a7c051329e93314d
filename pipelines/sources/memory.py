"""tf.data datasets handed over from Python: audit exactly what ``model.fit`` sees.

Accepts the element shapes people actually feed Keras: ``(image, label)``,
``(image, label, weight)`` or ``{"image": ..., "label": ...}``, batched or
not, labels as integers or one-hot, images in any numeric dtype after the
user's own preprocessing. Ids are ``<split>/<index>`` in iteration order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from audit.errors import UserError
from pipelines.sources.base import Source, Split

IMAGE_KEYS = ("image", "images", "x", "input", "inputs", "pixel_values")
LABEL_KEYS = ("label", "labels", "y", "target", "targets")


def _pick(spec: Any, where: str) -> tuple[Any, Any]:
    """Functions selecting the image and label from one element, by its spec."""
    if isinstance(spec, Mapping):
        image_key = next((k for k in IMAGE_KEYS if k in spec), None)
        label_key = next((k for k in LABEL_KEYS if k in spec), None)
        if image_key is None:
            raise UserError(f"{where}: no image key among {', '.join(spec)}")
        return (lambda e: e[image_key]), (lambda e: e[label_key] if label_key else None)
    if isinstance(spec, tuple):
        if len(spec) < 2:
            raise UserError(f"{where}: expected (image, label) elements")
        return (lambda e: e[0]), (lambda e: e[1])
    return (lambda e: e), (lambda e: None)


def _element(ds: tf.data.Dataset, where: str) -> tf.data.Dataset:
    """Normalise a user's dataset to unbatched ``(image HxWxC, label int64)``."""
    spec = ds.element_spec
    get_image, get_label = _pick(spec, where)
    image_spec = get_image(spec)
    rank = image_spec.shape.rank
    if rank is None:
        raise UserError(f"{where}: image rank is unknown; give the dataset a static rank")
    if rank == 4:
        ds = ds.unbatch()
    elif rank not in (2, 3):
        raise UserError(f"{where}: images of rank {rank}; expected H x W [x C], batched or not")

    def normalise(*element: Any) -> tuple[tf.Tensor, tf.Tensor]:
        e = element[0] if len(element) == 1 else element
        image = get_image(e)
        if image.shape.rank == 2:
            image = image[..., None]
        label = get_label(e)
        if label is None:
            label = tf.constant(-1, tf.int64)
        else:
            label = tf.convert_to_tensor(label)
            if label.shape.rank and label.shape.rank > 0:
                label = tf.argmax(tf.reshape(label, [-1]))
            label = tf.cast(label, tf.int64)
        return image, label

    return ds.map(normalise, num_parallel_calls=tf.data.AUTOTUNE)


def from_datasets(
    splits: Mapping[str, tf.data.Dataset],
    class_names: Sequence[str] | None = None,
    location: str = "<tf.data>",
) -> Source:
    """A Source over tf.data datasets per split (``{"train": ds, "test": ds}``)."""
    built = []
    for name, ds in splits.items():
        if not isinstance(ds, tf.data.Dataset):
            raise UserError(f"{location}[{name}]: expected a tf.data.Dataset, got {type(ds).__name__}")
        elements = _element(ds, f"{location}[{name}]").enumerate()
        records = elements.map(
            lambda i, e, n=name: (e[0], e[1], tf.strings.join([n, tf.strings.as_string(i)], "/"))
        )
        card = int(ds.cardinality())
        size = card if card >= 0 and ds.element_spec is not None and _unbatched(ds) else None
        built.append(Split(name, records, size=size))
    names = tuple(class_names) if class_names is not None else ()
    return Source(kind="memory", location=location, payload="image", splits=tuple(built),
                  class_names=names)


def _unbatched(ds: tf.data.Dataset) -> bool:
    """Whether the dataset's cardinality counts images (not batches)."""
    spec = ds.element_spec
    get_image, _ = _pick(spec, "dataset")
    return get_image(spec).shape.rank in (2, 3)
