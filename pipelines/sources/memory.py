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
    """Keys selecting the image and the label (None: no label) from one element."""
    if isinstance(spec, Mapping):
        image_key = next((k for k in IMAGE_KEYS if k in spec), None)
        label_key = next((k for k in LABEL_KEYS if k in spec), None)
        if image_key is None:
            raise UserError(f"{where}: no image key among {', '.join(spec)}")
        return image_key, label_key
    if isinstance(spec, tuple):
        if len(spec) < 2:
            raise UserError(f"{where}: expected (image, label) elements")
        return 0, 1
    return None, None


def _get(element: Any, key: Any) -> Any:
    """``element[key]``, or the element itself for key None."""
    return element if key is None else element[key]


def _is_batched(image_shape: tf.TensorShape, where: str) -> bool:
    """Whether images of this shape are batches: rank 4, or rank 3 without a channel axis."""
    rank = image_shape.rank
    if rank is None:
        raise UserError(f"{where}: image rank is unknown; give the dataset a static rank")
    if rank == 3:
        last = image_shape[-1]
        if last is None:
            raise UserError(
                f"{where}: rank-3 images with an unknown last axis; set the channel count"
            )
        return last not in (1, 2, 3, 4)
    if rank not in (2, 4):
        raise UserError(f"{where}: images of rank {rank}; expected H x W [x C], batched or not")
    return rank == 4


def _element(ds: tf.data.Dataset, where: str) -> tf.data.Dataset:
    """Normalise a user's dataset to unbatched ``(image HxWxC, label int64)``."""
    spec = ds.element_spec
    image_key, label_key = _pick(spec, where)
    if _is_batched(_get(spec, image_key).shape, where):
        ds = ds.unbatch()

    @tf.autograph.experimental.do_not_convert
    def normalise(*element: Any) -> tuple[tf.Tensor, tf.Tensor]:
        e = element[0] if len(element) == 1 else element
        image = _get(e, image_key)
        if image.shape.rank == 2:
            image = image[..., None]
        if label_key is None:
            label = tf.constant(-1, tf.int64)
        else:
            label = tf.convert_to_tensor(e[label_key])
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
            raise UserError(
                f"{location}[{name}]: expected a tf.data.Dataset, got {type(ds).__name__}"
            )
        elements = _element(ds, f"{location}[{name}]").enumerate()
        records = elements.map(
            tf.autograph.experimental.do_not_convert(
                lambda i, e, n=name: (
                    e[0],
                    e[1],
                    tf.strings.join([n, tf.strings.as_string(i)], "/"),
                )
            )
        )
        card = int(ds.cardinality())
        batched = _is_batched(_get(ds.element_spec, _pick(ds.element_spec, name)[0]).shape, name)
        built.append(Split(name, records, size=card if card >= 0 and not batched else None))
    names = tuple(class_names) if class_names is not None else ()
    return Source(
        kind="memory", location=location, payload="image", splits=tuple(built), class_names=names
    )
