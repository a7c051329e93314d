"""The reference CNN, the arrays it trains on, and training through tf.data.

The model is the baseline the field uses (Conv 32, pool, Conv 64, pool,
Dense 128, Dropout 0.5, softmax), sized to the dataset, with a Rescaling
layer that maps *train's* value range to 0..1 as its first layer: every
split goes through the same fixed transform, as in a user's model, so a
split that was preprocessed differently still reaches the network
differently (a standardising layer would hide part of such a mismatch). Training is
seeded and deterministic, on CPU, through a cached, shuffled, batched,
prefetched tf.data pipeline, with early stopping on a validation split.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from audit.config import AttributionConfig
from audit.errors import UserError
from pipelines.decode import decode_payload
from pipelines.sources.base import Source

EMBEDDING_LAYER = "embedding"
LUMA = tf.constant([0.299, 0.587, 0.114], tf.float32)


@dataclass(frozen=True)
class Arrays:
    """Images (float32 NxHxWxC, values as the source holds them), labels and ids of a split."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray

    def take(self, index: np.ndarray) -> Arrays:
        """The rows ``index``."""
        return Arrays(self.x[index], self.y[index], self.ids[index])

    def __len__(self) -> int:
        return len(self.y)


def load_split(
    source: Source, name: str, shape: tuple[int, int, int], limit: int, seed: int
) -> Arrays:
    """Decode split ``name`` into arrays of ``shape``, at most ``limit`` images (seeded sample).

    Images of another size are resized and other channel counts converted,
    so that the model can take them; values are left as they are.
    """
    split = source.split(name)
    # tf.data's shuffle order depends on the global seed as well as its own: without
    # setting it, a second audit in one process (after a model set it) drew other images
    tf.random.set_seed(seed)
    records = split.records.shuffle(10_000, seed=seed, reshuffle_each_iteration=False)
    kind, (h, w, c) = source.payload, shape

    @tf.autograph.experimental.do_not_convert  # plain graph code: conversion only costs time
    def prepare(payload: tf.Tensor, label: tf.Tensor, ident: tf.Tensor) -> tuple[Any, ...]:
        image = tf.cast(decode_payload(payload, kind)[0], tf.float32)
        have = tf.shape(image)[-1]
        if c == 1:
            image = tf.cond(
                have >= 3,
                lambda: tf.reduce_sum(image[..., :3] * LUMA, axis=-1, keepdims=True),
                lambda: image[..., :1],
            )
        else:
            image = tf.cond(
                have >= 3, lambda: image[..., :3], lambda: tf.repeat(image[..., :1], 3, axis=-1)
            )
        image = tf.image.resize(image, (h, w)) if image.shape[:2] != (h, w) else image
        return tf.ensure_shape(tf.reshape(image, (h, w, c)), (h, w, c)), label, ident

    ds = records.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if kind != "image":
        ds = ds.ignore_errors()
    xs, ys, ids = [], [], []
    for x, y, i in ds.take(limit).batch(512).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
        ids.append(i)
    if not xs:
        raise UserError(f"{source.location}: split {name!r} has no readable images to train on")
    ident = np.concatenate(ids).astype(str)
    return Arrays(np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64), ident)


def deterministic() -> None:
    """Make TensorFlow's ops deterministic, so a seed fixes the result (idempotent)."""
    tf.config.experimental.enable_op_determinism()


def reference_cnn(
    train_x: np.ndarray, n_classes: int, regularised: bool, seed: int, cfg: AttributionConfig
) -> Any:
    """The compiled reference CNN for images shaped like ``train_x``.

    ``regularised`` adds augmentation (small shifts and rotations), L2 on the
    weights and more dropout: the counterfactual for overfitting.
    """
    import keras

    deterministic()
    keras.utils.set_random_seed(seed)
    l2 = keras.regularizers.L2(cfg.l2) if regularised else None
    low, high = float(np.min(train_x)), float(np.max(train_x))
    scale = 1.0 / (high - low) if high > low else 1.0
    inputs = keras.Input(train_x.shape[1:])
    x = keras.layers.Rescaling(scale, offset=-low * scale)(inputs)
    if regularised:
        x = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed)(x)
        x = keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_regularizer=l2)(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", kernel_regularizer=l2)(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu", kernel_regularizer=l2, name=EMBEDDING_LAYER)(x)
    x = keras.layers.Dropout(0.6 if regularised else 0.5, seed=seed)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="reference_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load_user_model(path: str) -> Any:
    """The saved, compiled Keras model at ``path``; a UserError naming the file otherwise."""
    import keras

    try:
        with warnings.catch_warnings():  # its optimizer state is not used: rebuilt from config
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            saved = keras.models.load_model(path)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{path}: cannot load the Keras model ({exc})") from None
    if getattr(saved, "optimizer", None) is None or not getattr(saved, "loss", None):
        raise UserError(f"{path}: the model is not compiled (compile it before saving)")
    return saved


def model_input_shape(model: Any) -> tuple[int, int, int] | None:
    """(height, width, channels) a Keras model takes, or None when not fixed."""
    shape = tuple(model.input_shape[1:])
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape):
        return None
    return int(shape[0]), int(shape[1]), int(shape[2])


def user_model(path: str, seed: int, regularised: bool = False) -> Any:
    """A fresh copy (new weights, same architecture and compile settings) of a saved model.

    ``regularised`` puts the reference CNN's augmentation (small shifts and
    rotations) in front of it: the overfitting counterfactual for a model
    whose layers this tool does not know.
    """
    import keras

    saved = load_user_model(path)
    deterministic()
    keras.utils.set_random_seed(seed)
    model = keras.models.clone_model(saved)
    if regularised:
        inputs = keras.Input(saved.input_shape[1:])
        x = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed)(inputs)
        x = keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed)(x)
        model = keras.Model(inputs, model(x), name=f"augmented_{saved.name}")
    optimizer = saved.optimizer.__class__.from_config(saved.optimizer.get_config())
    model.compile(optimizer=optimizer, loss=saved.loss, metrics=["accuracy"])
    return model


def _dataset(data: Arrays, batch: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    """A cached, (shuffled,) batched, prefetched dataset of ``(x, y)``."""
    ds = tf.data.Dataset.from_tensor_slices((data.x, data.y)).cache()
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def fit(model: Any, train: Arrays, val: Arrays, cfg: AttributionConfig, seed: int) -> dict:
    """Train with early stopping on validation loss; the per-epoch history.

    A small training set gets more epochs (at least ``min_steps`` gradient
    steps), so that 100 images are not judged after 8 steps.
    """
    import keras

    steps = max(math.ceil(len(train) / cfg.batch_size), 1)
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps))  # small sets get enough steps
    patience = max(cfg.patience, math.ceil(cfg.min_steps / 4 / steps))
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    history = model.fit(
        _dataset(train, cfg.batch_size, seed, shuffle=True),
        validation_data=_dataset(val, cfg.batch_size, seed, shuffle=False),
        epochs=epochs,
        callbacks=[stop],
        shuffle=False,  # the tf.data pipeline shuffles (seeded); Keras would ignore and warn
        verbose=0,
    )
    return {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()}


def predict(model: Any, x: np.ndarray, batch: int) -> np.ndarray:
    """Class probabilities of ``x``."""
    return np.asarray(model.predict(x, batch_size=batch, verbose=0))


def embed(model: Any, x: np.ndarray, batch: int) -> np.ndarray:
    """The model's penultimate features of ``x`` (the reference CNN's Dense 128)."""
    import keras

    try:
        layer = model.get_layer(EMBEDDING_LAYER)
    except ValueError:
        layer = model.layers[-2]
    features = keras.Model(model.inputs, layer.output)
    out = np.asarray(features.predict(x, batch_size=batch, verbose=0))
    return out.reshape(len(x), -1)
