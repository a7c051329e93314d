"""The CLI's import hook: TensorFlow quiet, Keras left out (usable later), the heap frozen."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = """
import gc, json, sys
from audit import tf_loading
tf_loading.install()
import tensorflow as tf
frozen_tf = gc.get_freeze_count()
import great_expectations
frozen_ge = gc.get_freeze_count()
loaded = sorted(m for m in sys.modules if m == "keras" or m.startswith("keras."))
doubled = tf.data.Dataset.range(5).map(lambda x: x * 2)
total = int(doubled.reduce(tf.constant(0, tf.int64), lambda a, b: a + b))
blocked = tf_loading.DEFERRED in sys.modules
import keras
import numpy as np
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
loss = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=1, verbose=0).history["loss"][0]
print(json.dumps({"keras_with_tf": loaded, "total": total, "left_blocked": blocked,
                  "fitted": loss >= 0, "collector_on": gc.isenabled(),
                  "frozen": [frozen_tf > 100_000, frozen_ge > frozen_tf]}))
"""


def _probe(env: dict[str, str]) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_tensorflow_loads_quietly_without_keras_and_keras_still_trains():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    found, err = _probe(env)
    assert found == {
        "keras_with_tf": [],
        "total": 20,
        "left_blocked": False,
        "fitted": True,
        "collector_on": True,
        "frozen": [True, True],  # TensorFlow's objects, then Great Expectations' (audit.heap)
    }
    assert "oneDNN" not in err and "absl" not in err, err


def test_log_level_zero_keeps_tensorflows_start_up_lines():
    found, err = _probe({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert found["keras_with_tf"] == [] and found["fitted"]
    assert "oneDNN" in err or "cpu_feature_guard" in err, err
