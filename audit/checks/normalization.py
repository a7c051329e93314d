"""Normalization consistency: every split must reach the model on the same scale.

Each split's value scale is named from its pixels (``0-255``, ``0-1``,
``-1..1``, ``standardised`` or ``other``) and compared with train's; so are
its channel order (judged from channel means), channel count, image size,
constant images and NaN/Inf values. These are the preprocessing bugs behind
"high train accuracy, poor test accuracy" that no loss curve shows, and they
live after the user's own ``map(preprocess)``, which is why the in-memory
sources feed this check too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.checks.evidence import image_finding
from audit.config import NormalizationConfig
from audit.result import Finding
from audit.table import decoded, reference_split

NOMINAL_RANGES = {"0-255": (0.0, 255.0), "0-1": (0.0, 1.0), "-1..1": (-1.0, 1.0)}

KERAS_FIXES = {
    "0-1": "Rescaling(1/255)",
    "-1..1": "Rescaling(1/127.5, offset=-1)",
    "standardised": "a Normalization layer adapted on train",
    "0-255": "no rescaling (raw 0-255 values)",
}


@dataclass(frozen=True)
class Scale:
    """A split's value scale: its name and the value range it spans."""

    name: str
    low: float
    high: float

    @property
    def span(self) -> float:
        """Width of the range, for expressing values as fractions of it (never 0)."""
        return max(self.high - self.low, 1e-12)


def pooled_mean_std(rows: pd.DataFrame) -> tuple[float, float]:
    """Mean and std over all values of a split, from per-image means and stds."""
    means, stds = rows["mean"].to_numpy(float), rows["std"].to_numpy(float)
    ok = np.isfinite(means) & np.isfinite(stds)
    if not ok.any():
        return float("nan"), float("nan")
    mean = float(means[ok].mean())
    var = float((stds[ok] ** 2).mean() + means[ok].var())
    return mean, float(np.sqrt(var))


def value_scale(rows: pd.DataFrame, cfg: NormalizationConfig) -> Scale:
    """Name the value scale of a split's decoded rows.

    ``standardised`` when values pool to mean 0 and std 1; otherwise the
    first nominal range (0-1, -1..1, 0-255) that holds the ``quantile``
    and ``1 - quantile`` of the per-image minima and maxima; else ``other``.
    8-bit images are 0-255 by their dtype.
    """
    if (rows["dtype"] == "uint8").all():
        return Scale("0-255", *NOMINAL_RANGES["0-255"])
    low = float(np.nanquantile(rows["min"].to_numpy(float), cfg.quantile))
    high = float(np.nanquantile(rows["max"].to_numpy(float), 1 - cfg.quantile))
    mean, std = pooled_mean_std(rows)
    if abs(mean) < 0.25 and abs(std - 1) < 0.25 and (low < -cfg.tolerance):
        return Scale("standardised", low, high)
    for name in ("0-1", "-1..1", "0-255"):
        lo, hi = NOMINAL_RANGES[name]
        slack = cfg.tolerance * (hi - lo)
        floor = lo - cfg.tolerance * min(hi - lo, 2.0)  # 0-255 data is never much below 0
        if floor <= low and high <= hi + slack and (name != "-1..1" or low < -slack / 2):
            return Scale(name, *NOMINAL_RANGES[name])
    return Scale("other", low, high)


def split_scales(table: pd.DataFrame, cfg: NormalizationConfig) -> dict[str, Scale]:
    """The value scale of every split with decoded images."""
    groups = decoded(table).groupby("split", sort=False)
    return {str(s): value_scale(rows, cfg) for s, rows in groups}


def _range(scales: dict[str, Scale], reference: str, cfg: NormalizationConfig) -> list[Finding]:
    """A split on another value scale than the reference."""
    ref = scales[reference]
    findings = []
    for split, scale in scales.items():
        if split == reference or scale.name == ref.name:
            continue
        target = KERAS_FIXES.get(ref.name, f"the same transform that put {reference} in range")
        findings.append(
            Finding(
                check="normalization.value_range_mismatch",
                severity=cfg.range_severity,
                message=(
                    f"{split} pixels are {scale.name} ({scale.low:.3g} to {scale.high:.3g}) "
                    f"while {reference} is {ref.name} ({ref.low:.3g} to {ref.high:.3g})"
                ),
                count=1,
                evidence={
                    "split": split,
                    "reference": reference,
                    "scale": scale.name,
                    "reference_scale": ref.name,
                    "range": [scale.low, scale.high],
                    "reference_range": [ref.low, ref.high],
                },
                fix=(
                    f"{split} pixels are {scale.name} while {reference} is {ref.name}: apply the "
                    f"same preprocessing to every split ({target} for {reference}'s scale), "
                    "ideally as layers inside the model so it cannot differ."
                ),
            )
        )
    return findings


def _unit_channel_means(rows: pd.DataFrame, scale: Scale) -> np.ndarray:
    """Per-channel mean of a split as fractions of its value range."""
    means = rows[["mean_c0", "mean_c1", "mean_c2"]].to_numpy(float)
    return (np.nanmean(means, axis=0) - scale.low) / scale.span


def _channel_order(
    table: pd.DataFrame, scales: dict[str, Scale], reference: str, cfg: NormalizationConfig
) -> list[Finding]:
    """A three-channel split whose channel means look like train's reversed (BGR vs RGB)."""
    rows = decoded(table)
    rows = rows[rows["channels"] >= 3]
    by_split = {str(s): r for s, r in rows.groupby("split", sort=False)}
    if reference not in by_split:
        return []
    ref = _unit_channel_means(by_split[reference], scales[reference])
    if abs(ref[0] - ref[2]) < cfg.channel_gap:
        return []
    findings = []
    for split, split_rows in by_split.items():
        if split == reference:
            continue
        means = _unit_channel_means(split_rows, scales[split])
        same = float(np.abs(means - ref).sum())
        swapped = float(np.abs(means[::-1] - ref).sum())
        if not (swapped < same / 2 and np.sign(means[0] - means[2]) != np.sign(ref[0] - ref[2])):
            continue
        findings.append(
            Finding(
                check="normalization.channel_order",
                severity=cfg.channel_order_severity,
                message=(
                    f"{split}'s channels look reversed against {reference}'s (BGR vs RGB): "
                    f"channel means {np.round(means, 3).tolist()} vs {np.round(ref, 3).tolist()} "
                    "as fractions of the range"
                ),
                count=len(split_rows),
                evidence={
                    "split": split,
                    "reference": reference,
                    "channel_means": means.round(4).tolist(),
                    "reference_channel_means": ref.round(4).tolist(),
                    "distance_as_is": round(same, 4),
                    "distance_reversed": round(swapped, 4),
                },
                fix=(
                    f"Convert {split} to {reference}'s channel order (image[..., ::-1], or "
                    "cv2.cvtColor(image, cv2.COLOR_BGR2RGB) where OpenCV loaded it)."
                ),
            )
        )
    return findings


def _dominant_shapes(table: pd.DataFrame) -> pd.DataFrame:
    """Per split: the most common (height, width, channels), its share and distinct shapes."""
    rows = decoded(table)
    out = []
    for split, r in rows.groupby("split", sort=False):
        shapes = r.groupby(["height", "width", "channels"]).size().sort_values(ascending=False)
        (h, w, c), n = shapes.index[0], int(shapes.iloc[0])
        out.append(
            {
                "split": str(split),
                "height": int(h),
                "width": int(w),
                "channels": int(c),
                "share": n / len(r),
                "distinct": len(shapes),
            }
        )
    return pd.DataFrame(out).set_index("split")


def _shapes(table: pd.DataFrame, reference: str, cfg: NormalizationConfig) -> list[Finding]:
    """Channel counts and image sizes that differ from the reference's, and mixed sizes."""
    shapes = _dominant_shapes(table)
    ref = shapes.loc[reference]
    findings = []
    for split, s in shapes.iterrows():
        evidence = {
            "split": str(split),
            "reference": reference,
            "shape": [int(s.height), int(s.width), int(s.channels)],
            "reference_shape": [int(ref.height), int(ref.width), int(ref.channels)],
        }
        if split != reference and s.channels != ref.channels:
            findings.append(
                Finding(
                    check="normalization.channels_mismatch",
                    severity=cfg.channels_severity,
                    message=(
                        f"{split} images have {int(s.channels)} channel(s), "
                        f"{reference}'s {int(ref.channels)}"
                    ),
                    count=1,
                    evidence=evidence,
                    fix=(
                        f"Load every split with the same colour mode as {reference} "
                        "(color_mode= in the Keras loaders, or tf.image.grayscale_to_rgb / "
                        "rgb_to_grayscale in the pipeline)."
                    ),
                )
            )
        if split != reference and (s.height, s.width) != (ref.height, ref.width):
            findings.append(
                Finding(
                    check="normalization.size_mismatch",
                    severity=cfg.size_severity,
                    message=(
                        f"{split} images are mostly {int(s.height)}x{int(s.width)}, "
                        f"{reference}'s {int(ref.height)}x{int(ref.width)}"
                    ),
                    count=1,
                    evidence=evidence,
                    fix=(
                        f"Resize every split the same way to the model's input size "
                        f"(a Resizing({int(ref.height)}, {int(ref.width)}) layer in the model); "
                        "a resize applied to one split changes what the model sees."
                    ),
                )
            )
        if s.distinct > 1:
            findings.append(
                Finding(
                    check="normalization.mixed_shapes",
                    severity="info",
                    message=(
                        f"{split} holds {int(s.distinct)} image shapes; "
                        f"{s.share:.0%} are {int(s.height)}x{int(s.width)}x{int(s.channels)}"
                    ),
                    count=int(s.distinct),
                    evidence={**evidence, "distinct_shapes": int(s.distinct)},
                    fix="Resize (and convert colour modes) in the input pipeline, for every split.",
                )
            )
    return findings


def _per_image(table: pd.DataFrame, cfg: NormalizationConfig) -> list[Finding]:
    """Images holding NaN/Inf values, and constant images (one value everywhere)."""
    rows = decoded(table)
    findings = []
    bad = rows[rows["nonfinite"] > 0]
    if len(bad):
        finding = image_finding(
            "normalization.nonfinite",
            cfg.nonfinite_severity,
            bad,
            "image(s) hold NaN or Inf values",
            "Find the division by zero in preprocessing (a per-image standardisation of a "
            "constant image divides by std 0) and guard it, or drop the images.",
        )
        finding.evidence["values"] = int(bad["nonfinite"].sum())
        findings.append(finding)
    flat = rows[(rows["max"] == rows["min"]) & rows["max"].notna()]
    if len(flat):
        findings.append(
            image_finding(
                "normalization.constant_images",
                cfg.constant_severity,
                flat,
                "image(s) hold a single value",
                "Remove blank images, or find the step that blanks them (over-clipping).",
            )
        )
    return findings


def find_normalization(table: pd.DataFrame, cfg: NormalizationConfig) -> list[Finding]:
    """Value scale, channel order, channel count, size, NaN/Inf and constant images."""
    rows = decoded(table)
    reference = reference_split(rows)
    if reference is None:
        return []
    scales = split_scales(rows, cfg)
    findings = _range(scales, reference, cfg)
    findings += _channel_order(rows, scales, reference, cfg)
    findings += _shapes(rows, reference, cfg)
    return findings + _per_image(rows, cfg)
