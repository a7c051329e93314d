"""Per-split summary figures for report.json's ``balance`` and ``normalization`` blocks.

Plain measurements (counts, shares, value ranges) derived from the ImageTable;
the checks that judge them live in ``audit/checks``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from audit.checks.balance import class_counts, prior_shift
from audit.checks.drift import properties
from audit.checks.normalization import split_scales
from audit.config import AuditConfig, NormalizationConfig
from audit.table import decoded, reference_split


def balance_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Per split: image count, class counts and shares, largest/smallest class ratio.

    Splits other than the reference also get ``prior_shift``: the chi-square
    p-value and Jensen-Shannon distance of their class counts against it.
    """
    out: dict[str, Any] = {}
    measured = decoded(table)
    matrix = class_counts(measured) if len(measured) else None
    reference = reference_split(measured)
    for split, rows in table.groupby("split", sort=False):
        counts = rows["class_name"].fillna("<unlabelled>").value_counts().sort_index()
        total = int(counts.sum())
        out[str(split)] = {
            "images": total,
            "class_counts": {str(k): int(v) for k, v in counts.items()},
            "class_shares": {str(k): round(float(v) / total, 6) for k, v in counts.items()},
            "imbalance_ratio": round(float(counts.max() / counts.min()), 4)
            if len(counts)
            else None,
        }
    if matrix is not None and reference is not None:
        ref = matrix.loc[reference].to_numpy(float)
        for split in matrix.index:
            if split != reference and split in out:
                p_value, distance = prior_shift(ref, matrix.loc[split].to_numpy(float))
                out[split]["prior_shift"] = {
                    "reference": reference,
                    "p_value": p_value,
                    "jensen_shannon": round(distance, 6),
                }
    return out


def _finite(value: float) -> float | None:
    """A float for JSON: None for NaN."""
    return None if pd.isna(value) else round(float(value), 6)


def normalization_summary(
    table: pd.DataFrame, cfg: NormalizationConfig | None = None
) -> dict[str, Any]:
    """Per split: value scale, dtypes, value range, mean/std overall and per channel, shapes."""
    out: dict[str, Any] = {}
    scales = split_scales(table, cfg or NormalizationConfig())
    for split, rows in decoded(table).groupby("split", sort=False):
        shapes = rows.groupby(["height", "width", "channels"]).size().sort_values(ascending=False)
        out[str(split)] = {
            "scale": scales[str(split)].name,
            "dtypes": sorted(rows["dtype"].dropna().unique().tolist()),
            "min": _finite(rows["min"].min()),
            "max": _finite(rows["max"].max()),
            "mean": _finite(rows["mean"].mean()),
            "std": _finite(rows["std"].mean()),
            "channel_means": [_finite(rows[f"mean_c{c}"].mean()) for c in range(3)],
            "channel_stds": [_finite(rows[f"std_c{c}"].mean()) for c in range(3)],
            "shapes": [
                {"height": int(h), "width": int(w), "channels": int(c), "count": int(n)}
                for (h, w, c), n in shapes.head(10).items()
            ],
            "nonfinite_values": int(rows["nonfinite"].sum()),
        }
    return out


DRIFT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def drift_summary(table: pd.DataFrame, cfg: AuditConfig) -> dict[str, Any]:
    """Per drift property and split: quantiles (5, 25, 50, 75, 95%) of the property.

    The distributions the drift check compares, for plots; the check's
    verdicts (KS statistic, p-value) are in its findings.
    """
    rows = decoded(table)
    if rows.empty:
        return {}
    scales = split_scales(rows, cfg.normalization)
    per_split = {
        str(s): properties(r, scales[str(s)]) for s, r in rows.groupby("split", sort=False)
    }
    out: dict[str, Any] = {}
    for name in cfg.drift.properties:
        out[name] = {}
        for split, frame in per_split.items():
            values = frame[name].to_numpy(float)
            values = values[pd.notna(values)]
            if len(values) == 0:
                continue
            qs = pd.Series(values).quantile(list(DRIFT_QUANTILES)).tolist()
            out[name][split] = {
                "quantiles": [round(float(q), 6) for q in qs],
                "images": len(values),
            }
    return out
