"""Class balance: imbalance, missing classes, prior shift and label-index mix-ups.

Train (or the first split) is the reference. A prior shift needs both a
chi-square test of homogeneity that is significant (so a random split of a
balanced set stays quiet whatever its size) and a Jensen-Shannon distance
between the class shares large enough to matter (so a huge dataset does not
flag a shift of a tenth of a point).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare

from audit.config import BalanceConfig
from audit.result import Finding, name_ids
from audit.table import decoded, reference_split, split_names

UNLABELLED = "<unlabelled>"


def class_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Images per split (rows, in source order) and class (columns, sorted)."""
    names = table["class_name"].fillna(UNLABELLED)
    counts = pd.crosstab(table["split"], names)
    return counts.reindex(split_names(table)).fillna(0).astype(int)


def prior_shift(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Chi-square p-value and Jensen-Shannon distance (base 2) of two class-count vectors.

    Only classes present in both count: a class missing from one split is
    its own finding, and would otherwise be reported twice.
    """
    present = (reference > 0) & (other > 0)
    ref, oth = reference[present], other[present]
    if present.sum() < 2 or ref.sum() == 0 or oth.sum() == 0:
        return 1.0, 0.0
    p_value = float(chi2_contingency(np.stack([ref, oth])).pvalue)
    distance = float(jensenshannon(ref / ref.sum(), oth / oth.sum(), base=2))
    return p_value, distance


def _imbalance(counts: pd.DataFrame, cfg: BalanceConfig) -> list[Finding]:
    """A split whose largest class outnumbers its smallest by ``imbalance_ratio`` or more.

    The counts must also be unlikely under equal class shares (chi-square
    goodness of fit below ``p_value``): five images against one is chance.
    """
    findings = []
    for split, row in counts.iterrows():
        present = row[row > 0]
        if len(present) < 2:
            continue
        ratio = float(present.max() / present.min())
        p_value = float(chisquare(present.to_numpy(float)).pvalue)
        if ratio < cfg.imbalance_ratio or p_value >= cfg.p_value:
            continue
        top = int(np.ceil(len(present) / 2))
        share = float(present.sort_values(ascending=False).iloc[:top].sum() / present.sum())
        findings.append(
            Finding(
                check="balance.imbalance",
                severity="warning",
                message=(
                    f"{split} is imbalanced: {present.idxmax()!r} has {int(present.max())} images, "
                    f"{present.idxmin()!r} {int(present.min())} (ratio {ratio:.1f}); "
                    f"the largest half of the classes hold {share:.0%}"
                ),
                count=int(present.sum()),
                evidence={
                    "split": str(split),
                    "imbalance_ratio": round(ratio, 3),
                    "class_counts": {str(k): int(v) for k, v in present.items()},
                    "largest_half_share": round(share, 4),
                    "p_value_equal_shares": p_value,
                },
                fix=(
                    "Collect more images of the small classes, or compensate in training "
                    "(class_weight in model.fit, or resampling); report per-class metrics."
                ),
            )
        )
    return findings


def _missing(counts: pd.DataFrame, cfg: BalanceConfig) -> list[Finding]:
    """Classes with images in some splits and none in others."""
    findings = []
    for name in counts.columns:
        column = counts[name]
        absent = [str(s) for s, n in column.items() if n == 0]
        if not absent:
            continue
        present = {str(s): int(n) for s, n in column.items() if n > 0}
        findings.append(
            Finding(
                check="balance.missing_class",
                severity=cfg.missing_class_severity,
                message=(
                    f"class {name!r} has no images in {', '.join(absent)} "
                    f"(has {', '.join(f'{n} in {s}' for s, n in present.items())})"
                ),
                count=sum(present.values()),
                evidence={"class": str(name), "absent_from": absent, "present_in": present},
                fix=(
                    f"Add {name!r} images to {', '.join(absent)}, or drop the class everywhere; "
                    "a class the model never trains on, or is never tested on, skews accuracy. "
                    "If it was renamed in one split, use the same folder name in every split."
                ),
            )
        )
    return findings


def _prior_shift(counts: pd.DataFrame, reference: str, cfg: BalanceConfig) -> list[Finding]:
    """Class shares of a split that differ from the reference's beyond chance and size."""
    findings = []
    ref = counts.loc[reference].to_numpy(float)
    for split, row in counts.iterrows():
        if split == reference:
            continue
        oth = row.to_numpy(float)
        p_value, distance = prior_shift(ref, oth)
        if p_value >= cfg.p_value or distance < cfg.jsd_warning:
            continue
        severity = "error" if distance >= cfg.jsd_error else "warning"
        ref_share, oth_share = ref / max(ref.sum(), 1), oth / max(oth.sum(), 1)
        worst = np.argsort(-np.abs(oth_share - ref_share))[:3]
        moves = ", ".join(
            f"{counts.columns[k]!r} {ref_share[k]:.0%} -> {oth_share[k]:.0%}" for k in worst
        )
        findings.append(
            Finding(
                check="balance.prior_shift",
                severity=severity,
                message=(
                    f"class shares in {split} differ from {reference} "
                    f"(Jensen-Shannon {distance:.2f}, chi-square p={p_value:.1e}): {moves}"
                ),
                count=int(oth.sum()),
                evidence={
                    "split": str(split),
                    "reference": reference,
                    "jensen_shannon": round(distance, 4),
                    "p_value": p_value,
                    "shares": {
                        str(c): [round(float(a), 4), round(float(b), 4)]
                        for c, a, b in zip(counts.columns, ref_share, oth_share, strict=True)
                    },
                },
                fix=(
                    f"Re-split with stratification (train_test_split(..., stratify=labels)) so "
                    f"{split} has {reference}'s class shares, or, if {split} reflects the real "
                    "deployment priors, weight training to them and report per-class metrics."
                ),
            )
        )
    return findings


def folder_classes(rows: pd.DataFrame) -> bool:
    """Whether a split's class names are the parent folders of its image ids.

    That is the ``ROOT/<split>/<class>/`` layout, which Keras loaders turn
    into labels by sorting the split's own class folders.
    """
    parents = rows["id"].str.rsplit("/", n=2).str[-2]
    return bool(len(rows)) and bool((parents == rows["class_name"]).all())


def _index_shift(table: pd.DataFrame, reference: str, cfg: BalanceConfig) -> list[Finding]:
    """Class folders that differ between splits, so per-split loading shifts labels.

    ``image_dataset_from_directory`` / ``flow_from_directory`` number a
    split's classes by sorting its own folders: when one split lacks or
    renames a folder, the classes after it get other indices than in train.
    """
    splits = {s: rows for s, rows in table.groupby("split", sort=False)}
    if reference not in splits or not folder_classes(splits[reference]):
        return []
    ref_names = sorted(splits[reference]["class_name"].dropna().unique())
    ref_index = {n: i for i, n in enumerate(ref_names)}
    findings = []
    for split, rows in splits.items():
        if split == reference or not folder_classes(rows):
            continue
        names = sorted(rows["class_name"].dropna().unique())
        shifted = {
            n: [ref_index[n], i]
            for i, n in enumerate(names)
            if n in ref_index and ref_index[n] != i
        }
        if not shifted:
            continue
        findings.append(
            Finding(
                check="balance.class_index_shift",
                severity=cfg.index_shift_severity,
                message=(
                    f"{split}'s class folders differ from {reference}'s, so loading each split "
                    f"from its folders gives {len(shifted)} class(es) another label: "
                    + ", ".join(f"{n!r} {a} -> {b}" for n, (a, b) in list(shifted.items())[:5])
                ),
                count=int(rows["class_name"].isin(list(shifted)).sum()),
                evidence={
                    "split": str(split),
                    "reference_classes": ref_names,
                    "split_classes": names,
                    "shifted": shifted,
                },
                fix=(
                    "Give every split the same class folders (empty ones included), or pass "
                    f"class_names={ref_names!r} to image_dataset_from_directory for every split."
                ),
            )
        )
    return findings


def _label_mapping(table: pd.DataFrame, cfg: BalanceConfig) -> list[Finding]:
    """A class name that carries different label indices in different rows (manifests)."""
    named = table[table["class_name"].notna() & (table["label"] >= 0)]
    labels_per_name = named.groupby("class_name")["label"].nunique()
    mixed = labels_per_name[labels_per_name > 1].index.tolist()
    if not mixed:
        return []
    rows = named[named["class_name"].isin(mixed)]
    mapping = {
        str(name): {
            str(split): sorted(int(v) for v in grp["label"].unique())
            for split, grp in by_name.groupby("split", sort=False)
        }
        for name, by_name in rows.groupby("class_name")
    }
    return [
        Finding(
            check="balance.label_mapping_mismatch",
            severity=cfg.label_mapping_severity,
            message=(
                f"{len(mixed)} class name(s) carry different label indices: "
                + name_ids([f"{n!r} {mapping[str(n)]}" for n in mixed], 3)
            ),
            count=len(rows),
            evidence={"labels_by_class_and_split": mapping},
            fix=(
                "Build one class-name-to-index mapping (from train) and apply it to every split; "
                "a model trained on one numbering is scored against another."
            ),
        )
    ]


def find_balance(table: pd.DataFrame, cfg: BalanceConfig) -> list[Finding]:
    """Imbalance, missing classes, prior shift, class-index shift and label-mapping mismatch."""
    rows = decoded(table)
    reference = reference_split(rows)
    if reference is None:
        return []
    counts = class_counts(rows)
    findings = _imbalance(counts, cfg)
    if len(counts) > 1:
        findings += _missing(counts, cfg)
        findings += _prior_shift(counts, reference, cfg)
        findings += _index_shift(rows, reference, cfg)
    return findings + _label_mapping(rows, cfg)
