"""Train/test gap attribution: a reference CNN and counterfactual experiments.

``attribute_source`` loads the splits a profiled source holds and returns the
``attribution`` block of report.json (see ``attribute.attribute``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.attribution.attribute import Splits, attribute
from audit.attribution.model import load_split, load_user_model, model_input_shape
from audit.config import AttributionConfig
from audit.errors import UserError
from audit.result import Leakage
from audit.table import decoded, reference_split, split_names
from pipelines.sources.base import Source

VAL_NAMES = ("val", "validation", "valid", "dev")
MIN_VAL_IMAGES = 200
"""A carved validation split gets at least this many images (at most a quarter of train)."""


def _roles(table: pd.DataFrame) -> tuple[str, str | None, str]:
    """Names of the train, validation (or None) and test splits."""
    names = split_names(decoded(table))
    train = reference_split(decoded(table))
    val = next((n for n in names if n.lower() in VAL_NAMES and n != train), None)
    others = [n for n in names if n not in (train, val)]
    test = "test" if "test" in others else (others[-1] if others else None)
    if train is None or test is None:
        raise UserError(
            f"attribution needs a train and a test split (found: {', '.join(names) or 'none'})"
        )
    return train, val, test


def _shape(table: pd.DataFrame, split: str) -> tuple[int, int, int]:
    """The most common (height, width, channels) of a split's images."""
    rows = decoded(table)
    rows = rows[rows["split"] == split]
    (h, w, c), _ = next(
        iter(rows.groupby(["height", "width", "channels"]).size().nlargest(1).items())
    )
    return int(h), int(w), 1 if int(c) == 1 else 3


def build_splits(
    source: Source, table: pd.DataFrame, leakage: Leakage, cfg: AttributionConfig
) -> Splits:
    """The arrays to train and evaluate on, the class count and the leaked test ids."""
    train_name, val_name, test_name = _roles(table)
    shape = _shape(table, train_name)
    user = load_user_model(cfg.model_path) if cfg.model_path is not None else None
    if user is not None:  # the user's model sees images at its own input shape
        shape = model_input_shape(user) or shape
    train = load_split(source, train_name, shape, cfg.max_train_images, cfg.seed)
    test = load_split(source, test_name, shape, cfg.max_test_images, cfg.seed)
    if val_name is not None:
        val = load_split(source, val_name, shape, cfg.max_test_images, cfg.seed)
    else:
        order = np.random.default_rng(cfg.seed).permutation(len(train))
        cut = max(int(len(train) * cfg.val_fraction), min(len(train) // 4, MIN_VAL_IMAGES))
        val, train = train.take(order[:cut]), train.take(order[cut:])
    labels = table["label"][table["label"] >= 0]
    n_classes = max(int(labels.max()) + 1 if len(labels) else 0, len(source.class_names), 2)
    if user is not None:
        outputs = user.output_shape[-1]
        if outputs is not None and outputs < n_classes:
            raise UserError(
                f"{cfg.model_path}: the model has {outputs} outputs but the dataset has "
                f"{n_classes} classes; give it a softmax over {n_classes}"
            )
    split_of = dict(zip(table["id"], table["split"], strict=True))
    leaked = set()
    for pair in leakage.pairs:
        sides = {split_of.get(pair.a): pair.a, split_of.get(pair.b): pair.b}
        if train_name in sides and test_name in sides:
            leaked.add(sides[test_name])
    return Splits(train, val, test, n_classes, frozenset(leaked))


def attribute_source(
    source: Source, table: pd.DataFrame, leakage: Leakage, cfg: AttributionConfig
) -> dict[str, Any]:
    """Train the reference CNN on ``source`` and attribute its train/test gap."""
    return attribute(build_splits(source, table, leakage, cfg), cfg)
