"""Helpers shared by the fixtures and the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 100, 50


def digit_splits(digits: tuple[np.ndarray, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The fixture digits as train/test arrays."""
    x, y = digits
    return {"train": (x[:N_TRAIN], y[:N_TRAIN]), "test": (x[N_TRAIN:], y[N_TRAIN:])}


def prepare_tfds_digits(splits: dict[str, tuple[np.ndarray, np.ndarray]], data_dir: Path) -> None:
    """Prepare the TFDS dataset ``leakage_audit_test_digits`` from ``splits`` in ``data_dir``."""
    import tensorflow_datasets as tfds

    class LeakageAuditTestDigits(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=(28, 28, 1)),
                        "label": tfds.features.ClassLabel(names=[str(i) for i in range(10)]),
                    }
                )
            )

        def _split_generators(self, dl_manager):
            return {name: self._generate_examples(name) for name in splits}

        def _generate_examples(self, name):
            x, y = splits[name]
            for k, (image, label) in enumerate(zip(x, y, strict=True)):
                yield k, {"image": image[..., None], "label": int(label)}

    LeakageAuditTestDigits(data_dir=str(data_dir)).download_and_prepare()


DATA_FAMILIES = ("balance", "normalization", "drift")


def audit_findings(source, cfg=None) -> dict[str, str]:
    """Check id -> severity of every finding a full check run gives on ``source``."""
    from audit.run import run_check

    return {f.check: f.severity for f in run_check(source, cfg).result.findings}


def alarms(found: dict[str, str], families=DATA_FAMILIES) -> dict[str, str]:
    """The warning and error findings of ``families`` (false alarms on clean data)."""
    return {
        check: severity
        for check, severity in found.items()
        if check.split(".")[0] in families and severity != "info"
    }


def random_split(x: np.ndarray, y: np.ndarray, n_train: int, n_test: int, seed: int = 0):
    """A random train/test split of ``n_train`` and ``n_test`` items, as from_arrays input."""
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[:n_train], order[n_train : n_train + n_test]
    return {"train": (x[train], y[train]), "test": (x[test], y[test])}


def padded_batch(
    images: list[np.ndarray], fill: float, extra: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A padded batch as the profile hands it over: image ``i``, then ``fill``, in row ``i``.

    ``extra`` values of padding follow even the largest image. Returns (flat, shapes).
    """
    width = max(im.size for im in images) + extra
    flat = np.full((len(images), width), fill, images[0].dtype)
    for i, im in enumerate(images):
        flat[i, : im.size] = im.ravel()
    return flat, np.array([im.shape for im in images], np.int64)
