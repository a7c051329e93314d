"""Gap attribution on real MNIST digits: one planted cause per scenario, two training seeds.

Each scenario trains the reference CNN (and its retraining counterfactuals)
on 2,000 real digits for at most 4 epochs and checks which cause comes out
on top. Two seeds guard against a result that holds by luck.
"""

from __future__ import annotations

import numpy as np
import pytest

from audit.attribution import attribute_source
from audit.config import AttributionConfig
from audit.run import run_check
from audit.sample_data import GAP_SCENARIOS, gap_scenario
from pipelines.sources import from_arrays

SEEDS = (0, 1)


def _base(mnist):
    (xtr, ytr), (xte, yte) = gap_scenario("clean", *mnist).values()
    return xtr, ytr, xte, yte


def _scenario(name, mnist):
    return from_arrays(gap_scenario(name, *mnist))


def _attribute(name, mnist, seed):
    source = _scenario(name, mnist)
    run = run_check(source)
    cfg = AttributionConfig(epochs=4, seed=seed)
    attribution = attribute_source(source, run.table, run.result.leakage, cfg)
    findings = {f.check: f.severity for f in run.result.findings}
    return attribution, findings


def _top(attribution):
    return attribution["causes"][0]["cause"]


def _points(attribution, cause):
    return next(c["points"] for c in attribution["causes"] if c["cause"] == cause)


TOP_CAUSE = {
    name: causes
    for name, causes in GAP_SCENARIOS.items()
    if causes and name != "test -1..1"  # its own test below
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(TOP_CAUSE))
def test_planted_cause_comes_out_on_top(name, seed, mnist):
    attribution, _ = _attribute(name, mnist, seed)
    assert _top(attribution) in TOP_CAUSE[name], attribution["causes"][:3]
    assert attribution["verdict"] in ("data", "model", "mixed")
    assert attribution["causes"][0]["points"] >= AttributionConfig().min_points
    assert attribution["causes"] == sorted(attribution["causes"], key=lambda c: -c["points"])
    if name == "most test images inverted":
        # confidently wrong on inverted digits is the shift, not wrong labels
        assert _points(attribution, "label_noise") < AttributionConfig().min_points


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_split_gets_verdict_none(seed, mnist):
    attribution, findings = _attribute("clean", mnist, seed)
    assert attribution["verdict"] == "none", attribution["causes"][:3]
    assert all(c["points"] < 5 for c in attribution["causes"])
    assert _points(attribution, "split_leakage") == 0
    assert not any(sev == "error" for sev in findings.values())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["test 0-255"])
def test_scale_mismatch_the_cnn_barely_feels_gets_no_blame(name, seed, mnist):
    """The finding stands (error) but a ReLU CNN loses little: normalization gets < 3 points.

    The counterfactual gives normalization the points it actually costs, and
    no other cause reaches min_points either: label noise is judged on the
    re-normalised test, where the model's confidence means what it does on
    train (on the raw 0-255 test it took 3.0 points on seed 1).
    """
    attribution, findings = _attribute(name, mnist, seed)
    assert findings["normalization.value_range_mismatch"] == "error"
    min_points = AttributionConfig().min_points
    assert all(c["points"] < min_points for c in attribution["causes"]), attribution["causes"][:3]
    assert attribution["verdict"] == "none"


@pytest.mark.parametrize("seed", SEEDS)
def test_minus_one_to_one_test_split_puts_normalization_on_top(seed, mnist):
    """-1..1 test against 0-1 train: an error finding, and normalization is the top cause.

    The reference CNN loses 1.6 to 7.8 points on such a test set (seeds 0-5,
    4 epochs; benchmarks/RESULTS.md): re-normalising recovers them, and no
    other cause explains more. When that reaches min_points, the verdict is
    data. The shift between the splits is the value mapping alone, so
    covariate shift, measured after re-normalising, gets nothing.
    """
    attribution, findings = _attribute("test -1..1", mnist, seed)
    assert findings["normalization.value_range_mismatch"] == "error"
    assert _top(attribution) == "normalization_mismatch", attribution["causes"][:3]
    min_points = AttributionConfig().min_points
    if _points(attribution, "normalization_mismatch") >= min_points:
        assert attribution["verdict"] == "data"
    covariate = next(c for c in attribution["causes"] if c["cause"] == "covariate_shift")
    assert covariate["evidence"]["domain_auc_before_renormalizing"] >= 0.65
    assert covariate["points"] < min_points


def test_leaked_test_copies_have_negative_points(mnist):
    xtr, ytr, xte, yte = _base(mnist)
    xte, yte = np.concatenate([xte[:-100], xtr[:100]]), np.concatenate([yte[:-100], ytr[:100]])
    source = from_arrays({"train": (xtr, ytr), "test": (xte, yte)})
    run = run_check(source)
    cfg = AttributionConfig(epochs=4, retrain=False)
    attribution = attribute_source(source, run.table, run.result.leakage, cfg)
    leak = next(c for c in attribution["causes"] if c["cause"] == "split_leakage")
    assert leak["evidence"]["leaked_test_images"] == 100
    assert leak["points"] < 0  # leaked copies are easy: they inflate test accuracy
    assert leak["evidence"]["clean_test_accuracy"] < attribution["test_accuracy"]


def test_audit_command_writes_the_attribution(tmp_path, mnist, capsys):
    import json

    from audit.cli import main

    xtr, ytr, xte, yte = _base(mnist)
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=xtr[:600], y_train=ytr[:600], x_test=xte[:200], y_test=yte[:200])
    out = tmp_path / "out"
    argv = ["audit", str(data), "--out", str(out), "--no-cache", "--epochs", "2", "--no-retrain"]
    assert main(argv) == 0
    assert "verdict" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    attribution = report["attribution"]
    assert attribution["train_images"] + attribution["val_images"] == 600
    assert {c["cause"] for c in attribution["causes"]} >= {"normalization_mismatch", "label_noise"}
    assert attribution["history"]["val_loss"]
    assert "attribution-chart" in (out / "report.html").read_text()
    assert main([*argv[:-1], "--model", str(tmp_path / "missing.keras")]) == 2


def _saved_model(path, shape, outputs, compiled=True):
    """A small user CNN (not the reference one) saved as ``path``."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(outputs, activation="softmax"),
        ],
        name="users_small_cnn",
    )
    if compiled:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(path)
    return model


def test_user_model_is_trained_at_its_own_input_shape(tmp_path, mnist, capsys):
    """``--model``: the user's architecture is retrained (also augmented) on images of its shape."""
    import json

    from audit.cli import main

    xtr, ytr, xte, yte = _base(mnist)
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=xtr[:600], y_train=ytr[:600], x_test=xte[:200], y_test=yte[:200])
    saved = _saved_model(tmp_path / "user.keras", (32, 32, 1), 10)  # digits are 28x28
    out = tmp_path / "out"
    argv = ["audit", str(data), "--out", str(out), "--no-cache", "--epochs", "2", "-q"]
    assert main([*argv, "--model", str(tmp_path / "user.keras")]) == 0
    attribution = json.loads((out / "report.json").read_text())["attribution"]
    assert attribution["model"] == "user model"
    assert attribution["model_name"] == "users_small_cnn"
    assert attribution["model_parameters"] == saved.count_params()
    overfitting = next(c for c in attribution["causes"] if c["cause"] == "overfitting")
    assert overfitting["evidence"]["epochs_regularised"] >= 1
    assert len(attribution["learning_curve"]) == 3
    capsys.readouterr()
    _saved_model(tmp_path / "five.keras", (28, 28, 1), 5)
    assert main([*argv, "--model", str(tmp_path / "five.keras")]) == 2
    assert "has 5 outputs but the dataset has 10 classes" in capsys.readouterr().err
    _saved_model(tmp_path / "raw.keras", (28, 28, 1), 10, compiled=False)
    assert main([*argv, "--model", str(tmp_path / "raw.keras")]) == 2
    err = capsys.readouterr().err
    assert "not compiled" in err and "Traceback" not in err


def test_reweighting_recovers_train_accuracy_where_the_like_train_subset_overshoots():
    """Covariate shift's counterfactual is importance weighting, not the "looks like train" subset.

    A feature t is uniform on train and t = u**3 on test (mostly low); the
    model is right when t > 0.3, so it scores 0.70 on train's distribution
    and about 0.33 on test. With the exact domain probabilities, the
    re-weighted test accuracy is train's 0.70, while the test images that
    look like train (p(test) < 0.5, t > 0.19) score about 0.78: easier
    images, not the shift, would take the extra points.
    """
    from audit.attribution.attribute import reweighted_accuracy

    t = np.random.default_rng(0).random(40_000) ** 3
    correct = (t > 0.3).astype(float)
    ratio = np.power(t, -2 / 3) / 3  # test density over train density
    p_test = ratio / (1 + ratio)  # equal sample sizes on both sides
    accuracy, effective = reweighted_accuracy(correct, p_test)
    assert abs(accuracy - 0.70) < 0.02
    assert correct.mean() < 0.35 and correct[p_test < 0.5].mean() > 0.75
    assert effective > 1_000
    plain, n = reweighted_accuracy(correct, np.full(len(t), 0.5))  # no shift: plain accuracy
    assert plain == pytest.approx(correct.mean()) and n == pytest.approx(len(t))


def test_training_sample_does_not_depend_on_what_ran_before(mnist):
    """load_split's seeded sample is the same whatever global seed an earlier model left set."""
    import tensorflow as tf

    from audit.attribution.model import load_split

    x, y = mnist
    source = from_arrays({"train": (x[:1500], y[:1500]), "test": (x[1500:1600], y[1500:1600])})
    first = load_split(source, "train", (28, 28, 1), 400, seed=3)
    tf.random.set_seed(12345)  # what training a model with another seed leaves behind
    second = load_split(source, "train", (28, 28, 1), 400, seed=3)
    assert len(first) == 400
    assert list(first.ids) == list(second.ids)
    assert np.array_equal(first.x, second.x)
    other = load_split(source, "train", (28, 28, 1), 400, seed=4)
    assert list(other.ids) != list(first.ids)
