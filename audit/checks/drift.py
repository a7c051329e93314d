"""Drift: per-image properties whose distribution shifted between splits.

Brightness, contrast, sharpness and colourfulness are expressed as
fractions of each split's value range (see ``normalization.value_scale``),
so a 0-1 split and a 0-255 split of the same images do not drift (the
normalization check names that fault); size is the geometric mean side in
pixels, aspect ratio width over height. Each property of each split is
compared with train's by a two-sample Kolmogorov-Smirnov test; a drift needs
a small p-value (not chance) *and* a KS statistic large enough to matter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from audit.checks.normalization import Scale, split_scales
from audit.config import AuditConfig
from audit.result import Finding
from audit.table import decoded, reference_split

DESCRIPTIONS = {
    "brightness": (
        "mean pixel value",
        "check the capture or the preprocessing of that split (inverted images, a gamma or "
        "brightness change applied to one split); augment brightness in training if the "
        "shift is real",
    ),
    "contrast": (
        "pixel standard deviation",
        "check for a contrast stretch or equalisation applied to one split; augment contrast "
        "in training if the shift is real",
    ),
    "sharpness": (
        "Laplacian standard deviation (low = blurred)",
        "check for blur, resampling or heavy compression applied to one split; augment with "
        "blur (or sharpen) in training if the shift is real",
    ),
    "colorfulness": (
        "Hasler-Suesstrunk colourfulness",
        "check for a colour conversion or white-balance change in one split; augment colour "
        "(ColorJitter-style) in training if the shift is real",
    ),
    "size": (
        "image side in pixels (geometric mean of height and width)",
        "resize every split the same way; if sources differ in resolution, resize before "
        "the split so the model cannot tell them apart",
    ),
    "aspect_ratio": (
        "width / height",
        "crop or pad every split to the same aspect ratio; a model can learn the frame "
        "shape instead of the content",
    ),
}


def properties(rows: pd.DataFrame, scale: Scale) -> pd.DataFrame:
    """The drift properties of a split's decoded rows, scale-free where values are concerned."""
    height = rows["height"].to_numpy(float)
    width = rows["width"].to_numpy(float)
    return pd.DataFrame(
        {
            "brightness": (rows["mean"].to_numpy(float) - scale.low) / scale.span,
            "contrast": rows["std"].to_numpy(float) / scale.span,
            "sharpness": rows["sharpness"].to_numpy(float) / scale.span,
            "colorfulness": rows["colorfulness"].to_numpy(float) / scale.span,
            "size": np.sqrt(height * width),
            "aspect_ratio": width / np.maximum(height, 1),
        },
        index=rows.index,
    )


def _compare(ref: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """KS statistic and p-value of two samples (0 and 1 when either is constant and equal)."""
    ref, other = ref[np.isfinite(ref)], other[np.isfinite(other)]
    if len(ref) == 0 or len(other) == 0:
        return 0.0, 1.0
    result = ks_2samp(ref, other)
    return float(result.statistic), float(result.pvalue)


def _summary(values: np.ndarray) -> dict[str, float]:
    """Median and quartiles of a property in one split, for the evidence."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return {"median": float("nan"), "q1": float("nan"), "q3": float("nan")}
    q1, median, q3 = np.quantile(finite, [0.25, 0.5, 0.75])
    return {"median": round(float(median), 5), "q1": round(float(q1), 5), "q3": round(float(q3), 5)}


def find_drift(table: pd.DataFrame, cfg: AuditConfig) -> list[Finding]:
    """One ``drift.<property>`` finding per property that shifted in any split."""
    rows = decoded(table)
    reference = reference_split(rows)
    if reference is None:
        return []
    scales = split_scales(rows, cfg.normalization)
    props = {str(s): properties(r, scales[str(s)]) for s, r in rows.groupby("split", sort=False)}
    if len(props[reference]) < cfg.drift.min_images:
        return []
    findings = []
    for name in cfg.drift.properties:
        ref_values = props[reference][name].to_numpy()
        shifted, evidence = [], {reference: _summary(ref_values)}
        for split, values in props.items():
            if split == reference or len(values) < cfg.drift.min_images:
                continue
            other = values[name].to_numpy()
            statistic, p_value = _compare(ref_values, other)
            evidence[split] = {
                **_summary(other),
                "ks_statistic": round(statistic, 4),
                "p_value": p_value,
            }
            if p_value < cfg.drift.p_value and statistic >= cfg.drift.warning_effect:
                shifted.append((split, statistic))
        if not shifted:
            continue
        worst = max(s for _, s in shifted)
        noun, fix = DESCRIPTIONS[name]
        moves = ", ".join(
            f"{split} median {evidence[split]['median']:.4g} vs {evidence[reference]['median']:.4g}"
            f" (KS {stat:.2f})"
            for split, stat in shifted
        )
        findings.append(
            Finding(
                check=f"drift.{name}",
                severity="error" if worst >= cfg.drift.error_effect else "warning",
                message=f"{name.replace('_', ' ')} ({noun}) shifted from {reference}: {moves}",
                count=len(shifted),
                evidence={"reference": reference, "splits": evidence},
                fix=f"{fix.capitalize()}.",
            )
        )
    return findings
