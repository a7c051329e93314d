"""AuditConfig: every threshold and knob in one frozen, typed place.

Checks measure; this config (and the expectation suites) decide severity.
Loaded from TOML with ``load_config`` and overridden by CLI flags with
``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import UserError

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class ProfileConfig:
    """How images are profiled.

    Attributes:
        batch_size: images per tf.data batch of small images; same-shape
            images in a batch are measured in one vectorised call.
        batch_max_pixels: with ``batch_size`` sets a batch's memory budget of
            ``batch_size * batch_max_pixels * 4`` values (16 Mi by default:
            64 RGB photos of 256x256); larger images batch in smaller groups,
            the largest alone. Smaller batches of large images keep both
            cores busy to the end of a profile (``benchmarks/RESULTS.md``).
        max_pixels: images with more pixels are refused as possible
            decompression bombs (reported, not decoded).
        parallel_decodes: images read and decoded at once; 0 (the default)
            is 12 per core, at most 64, and fewer (down to one per core)
            when the headers of a split's first images declare so many
            pixels that the images in flight would pass 256 Mi values.
            Each holds one decoded image until it is batched. With one per
            core, tf.data's threads spent half the decode time waking each
            other (``benchmarks/RESULTS.md``).
        second_process: ``check`` on the command line profiles in a second
            process while the first imports the checks and the gate, so the
            two start-ups overlap (``pipelines.second_process``); false
            profiles in the one process. The Python API always profiles in
            the caller's process.

    """

    batch_size: int = 256
    batch_max_pixels: int = 128 * 128
    max_pixels: int = 89_478_485  # Pillow's own default bomb limit
    parallel_decodes: int = 0
    second_process: bool = True


@dataclass(frozen=True)
class IntegrityConfig:
    """Integrity thresholds and severities.

    Attributes:
        unreadable_severity: severity of undecodable, truncated, empty, missing,
            non-image or over-the-pixel-limit files.
        max_ids_in_message: how many file ids a finding's message names.
        tiny_side: images with a side below this many pixels are tiny.
        tiny_fraction: images whose shorter side is below this fraction of
            their split's median shorter side are tiny too (thumbnails
            scraped in among photos).
        wrong_extension_severity / exif_rotated_severity / tiny_severity /
            mixed_modes_severity: severities of those findings.

    """

    unreadable_severity: str = "error"
    max_ids_in_message: int = 5
    tiny_side: int = 4
    tiny_fraction: float = 0.25
    wrong_extension_severity: str = "warning"
    exif_rotated_severity: str = "warning"
    tiny_severity: str = "warning"
    mixed_modes_severity: str = "warning"


@dataclass(frozen=True)
class BalanceConfig:
    """Class balance and prior shift between splits.

    Attributes:
        imbalance_ratio: a split whose largest class has at least this many
            times the images of its smallest is imbalanced (warning).
        p_value: a prior shift needs a chi-square p-value below this (so
            small splits that differ by chance stay quiet) ...
        jsd_warning: ... and a Jensen-Shannon distance (base 2, 0..1) between
            the class shares of at least this for a warning ...
        jsd_error: ... or at least this for an error. A random 70/30 split
            of 5,000 balanced MNIST digits gives about 0.02; 90% of train in
            half the classes against a balanced test gives 0.38.
        missing_class_severity: a class with no images in a split where
            another split has it.
        index_shift_severity: class folders that differ between splits, so
            loading each split separately gives one class two labels.
        label_mapping_severity: a class name mapped to different label
            indices in different splits.

    """

    imbalance_ratio: float = 5.0
    p_value: float = 0.001
    jsd_warning: float = 0.1
    jsd_error: float = 0.3
    missing_class_severity: str = "error"
    index_shift_severity: str = "error"
    label_mapping_severity: str = "error"


@dataclass(frozen=True)
class NormalizationConfig:
    """Value scale, channel order and shape consistency between splits.

    Attributes:
        tolerance: slack on the range bounds when naming a split's value
            scale (0-1, 0-255, -1..1), in units of that scale.
        quantile: per-image minima and maxima are summarised by this lower
            and upper quantile, so a few odd images do not rename a scale.
        channel_gap: channel order is judged only when train's first and
            third channel means differ by at least this fraction of the
            value range (otherwise RGB and BGR look alike).
        range_severity / channel_order_severity / channels_severity /
            size_severity / nonfinite_severity / constant_severity: severities.

    """

    tolerance: float = 0.05
    quantile: float = 0.01
    channel_gap: float = 0.03
    range_severity: str = "error"
    channel_order_severity: str = "error"
    channels_severity: str = "error"
    size_severity: str = "warning"
    nonfinite_severity: str = "error"
    constant_severity: str = "warning"


DRIFT_PROPERTIES = ("brightness", "contrast", "sharpness", "colorfulness", "size", "aspect_ratio")


@dataclass(frozen=True)
class DriftConfig:
    """Per-image property drift between splits (two-sample Kolmogorov-Smirnov).

    Attributes:
        properties: the properties compared (subset of DRIFT_PROPERTIES).
        p_value: a shift needs a KS p-value below this ...
        warning_effect: ... and a KS statistic (the largest gap between the
            two cumulative distributions, 0..1) of at least this for a warning
        error_effect: ... or at least this for an error.
        min_images: splits with fewer measured images are not compared.

    """

    properties: tuple[str, ...] = DRIFT_PROPERTIES
    p_value: float = 0.001
    warning_effect: float = 0.2
    error_effect: float = 0.5
    min_images: int = 20


@dataclass(frozen=True)
class LeakageConfig:
    """Duplicate and group leakage detection.

    Attributes:
        phash_radius: pHash Hamming radius within which pairs become candidates.
        similarity: thumbnail correlation at which a candidate is confirmed as a
            near duplicate. The defaults (10 bits, 0.99) gave zero false pairs
            among 5,000 clean real MNIST digits (76,872 candidates).
        max_shift: pixels of translation searched when verifying on thumbnails.
        geometric: also search each later split for rotated, shifted, cropped,
            blurred or down-sized copies of earlier splits' images (descriptor
            neighbours, confirmed by aligning the thumbnails).
        aligned_similarity: aligned thumbnail correlation at which such a
            candidate is a copy. 0.995 gave no false pair among 1,000 clean
            real MNIST test digits against 4,000 train digits (three random
            splits); 0.992 gave one or two (two straight "1"s fit each other).
        aligned_floor / aligned_ratio: a query's best candidate is also a copy
            when its aligned correlation is at least ``aligned_floor`` and its
            residual (1 - correlation) is ``aligned_ratio`` times smaller than
            the second best candidate's (Lowe's ratio test): detailed photos
            lose more to resampling than simple digits, but stand out more.
        flip_invariant: also match horizontally flipped copies.
        group_pattern: regex on file names whose first group (or whole match)
            names the group (patient, session, video); overrides nothing when
            the source has a group column.
        max_report_pairs: pairs listed in report.json (all are counted).
        max_report_groups: duplicate groups listed with their members (and
            thumbnails) in report.json, largest and cross-split first.
        cross_split_severity / within_split_severity / label_conflict_severity
            / group_overlap_severity: severities of the four findings.

    """

    phash_radius: int = 10
    similarity: float = 0.99
    max_shift: int = 1
    geometric: bool = True
    aligned_similarity: float = 0.995
    aligned_floor: float = 0.9
    aligned_ratio: float = 5.0
    flip_invariant: bool = False
    group_pattern: str | None = None
    max_report_pairs: int = 10_000
    max_report_groups: int = 200
    cross_split_severity: str = "error"
    within_split_severity: str = "warning"
    label_conflict_severity: str = "error"
    group_overlap_severity: str = "error"


@dataclass(frozen=True)
class AttributionConfig:
    """Training the reference CNN and attributing the train/test gap.

    Attributes:
        epochs: training epochs at most (early stopping on validation loss).
        min_steps: small training sets train for more epochs, up to this
            many gradient steps.
        patience: epochs without validation improvement before stopping.
        max_train_images / max_test_images: seeded samples above these sizes.
        batch_size / learning_rate / l2: training settings (l2 for the
            regularised variant only).
        val_fraction: share of train held out for validation when the
            source has no ``val``/``validation`` split.
        seed: the seed of every random choice (sampling, weights, shuffling).
        min_points: causes explaining fewer accuracy points count for nothing.
        gap_tolerance: a gap below this many points, with no cause above it,
            is verdict ``none``.
        domain_auc: the domain classifier must separate train from test at
            least this well (ROC AUC) before covariate shift gets points.
        renormalized_auc_drop: when re-normalising test lowers the domain
            AUC by this much, covariate shift is measured on the re-normalised
            test (the shift was the preprocessing, already counted).
        domain_sample / min_domain_images: images per side for the domain
            classifier; effective test images (importance weights) needed
            before covariate shift gets points.
        neighbours / neighbour_agreement: how many train neighbours vote, and
            the share that must agree with the model, to call a test label noisy.
        underfit_accuracy: train accuracy below this is underfitting.
        learning_curve: fractions of train retrained on (plus 100%).
        retrain: run the retraining counterfactuals (overfitting, learning curve).
        model_path: a saved, compiled Keras model to use instead of the reference CNN.

    """

    epochs: int = 8
    min_steps: int = 100
    patience: int = 2
    max_train_images: int = 20_000
    max_test_images: int = 10_000
    batch_size: int = 64
    learning_rate: float = 1e-3
    l2: float = 1e-4
    val_fraction: float = 0.1
    seed: int = 0
    min_points: float = 3.0
    gap_tolerance: float = 5.0
    domain_auc: float = 0.65
    renormalized_auc_drop: float = 0.1
    domain_sample: int = 2_000
    min_domain_images: int = 20
    neighbours: int = 10
    neighbour_agreement: float = 0.8
    underfit_accuracy: float = 0.9
    learning_curve: tuple[float, ...] = (0.25, 0.5)
    retrain: bool = True
    model_path: str | None = None


@dataclass(frozen=True)
class AuditConfig:
    """The whole audit configuration.

    Attributes:
        fail_on: lowest finding severity that fails the gate (``error`` or ``warning``).
        profile: profiling options.
        integrity: integrity check options.
        leakage: duplicate and group leakage options.
        balance: class balance options.
        normalization: normalization consistency options.
        drift: property drift options.
        attribution: reference CNN training and gap attribution options.

    """

    fail_on: str = "error"
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    normalization: NormalizationConfig = field(default_factory=NormalizationConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)

    def __post_init__(self) -> None:
        """Reject settings that would make the gate meaningless."""
        if self.fail_on not in ("error", "warning"):
            raise UserError(f"fail_on must be 'error' or 'warning', not {self.fail_on!r}")
        if self.profile.batch_size < 1:
            raise UserError("profile.batch_size must be at least 1")
        if self.profile.parallel_decodes < 0:
            raise UserError("profile.parallel_decodes must be 0 (automatic) or more")
        if not isinstance(self.profile.second_process, bool):
            raise UserError("profile.second_process must be true or false")
        if not 0 <= self.leakage.phash_radius <= 32:
            raise UserError("leakage.phash_radius must be between 0 and 32")
        unknown = set(self.drift.properties) - set(DRIFT_PROPERTIES)
        if unknown:
            raise UserError(
                f"drift.properties: unknown {', '.join(sorted(unknown))} "
                f"(known: {', '.join(DRIFT_PROPERTIES)})"
            )
        for section in (self.integrity, self.leakage, self.balance, self.normalization):
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if f.name.endswith("_severity") and value not in SEVERITIES:
                    raise UserError(
                        f"{f.name} must be one of {', '.join(SEVERITIES)}, not {value!r}"
                    )


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, rejecting unknown keys by name."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"{where}: unknown setting {key!r} (known: {', '.join(known)})")
        sub = known[key].default_factory  # type: ignore[misc]
        if isinstance(value, dict) and dataclasses.is_dataclass(sub):
            kwargs[key] = _build(sub, value, f"{where}[{key}]")  # type: ignore[arg-type]
        else:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def load_config(path: Path | None) -> AuditConfig:
    """Load an AuditConfig from a TOML file; defaults when ``path`` is None."""
    if path is None:
        return AuditConfig()
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read config: {exc}") from None
    try:
        return _build(AuditConfig, values, str(path))
    except TypeError as exc:
        raise UserError(f"{path}: {exc}") from None
