"""The tables the expectation suites run on: ``images`` and ``splits``.

``images`` is the ImageTable without thumbnails and hashes. ``splits`` holds
one row per split of figures derived from the findings and the summaries
(duplicates, label conflicts, missing classes, prior shift, value scale),
so a suite can bound them with plain column expectations and a failed row
names the split.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from audit.result import Finding
from audit.table import split_names

IMAGE_COLUMNS = [
    "split",
    "id",
    "label",
    "class_name",
    "error_kind",
    "height",
    "width",
    "channels",
    "dtype",
    "min",
    "max",
    "nonfinite",
    "format",
    "orientation",
]

SPLIT_COLUMNS = [
    "split",
    "images",
    "unreadable_share",
    "classes",
    "classes_missing",
    "prior_shift",
    "prior_shift_p_value",
    "value_scale",
    "channels",
    "height",
    "width",
    "cross_split_duplicates",
    "label_conflicts",
    "group_overlaps",
    "indexed_duplicates",
]


def _by_check(findings: list[Finding], check: str) -> Finding | None:
    """The finding with id ``check``, if any."""
    return next((f for f in findings if f.check == check), None)


def _count_ids(ids: list[str], split_of: dict[str, str]) -> dict[str, int]:
    """How many of ``ids`` fall in each split."""
    counts: dict[str, int] = {}
    for ident in ids:
        split = split_of.get(ident)
        if split is not None:
            counts[split] = counts.get(split, 0) + 1
    return counts


def split_table(
    table: pd.DataFrame,
    findings: list[Finding],
    balance: dict[str, Any],
    normalization: dict[str, Any],
    p_value: float,
) -> pd.DataFrame:
    """One row per split: the figures the default suite bounds (see SPLIT_COLUMNS).

    ``prior_shift`` is the Jensen-Shannon distance to the reference split
    when its chi-square p-value is below ``p_value`` and 0 otherwise, so a
    bound on it does not fail small splits by chance.
    """
    split_of = dict(zip(table["id"], table["split"], strict=True))
    copies = _by_check(findings, "leakage.cross_split_duplicate")
    duplicates = _count_ids(copies.evidence["copies_to_drop"] if copies else [], split_of)
    conflict = _by_check(findings, "leakage.label_conflict")
    conflicted = [p[k] for p in conflict.evidence["pairs"] for k in ("a", "b")] if conflict else []
    conflicts = _count_ids(conflicted, split_of)
    overlap = _by_check(findings, "leakage.group_overlap")
    groups: dict[str, int] = {}
    for spread in overlap.evidence["groups"].values() if overlap else []:
        for split in spread:
            groups[split] = groups.get(split, 0) + 1
    indexed = _by_check(findings, "leakage.indexed_duplicate")
    indexed_copies = _count_ids(indexed.evidence["copies_to_drop"] if indexed else [], split_of)
    missing: dict[str, int] = {}
    for f in findings:
        if f.check == "balance.missing_class":
            for split in f.evidence["absent_from"]:
                missing[split] = missing.get(split, 0) + 1
    rows = []
    for split in split_names(table):
        in_split = table[table["split"] == split]
        stats = balance.get(split, {})
        shift = stats.get("prior_shift", {"p_value": 1.0, "jensen_shannon": 0.0})
        norm = normalization.get(split, {})
        shape = norm.get("shapes", [{}])[0] if norm.get("shapes") else {}
        rows.append(
            {
                "split": split,
                "images": len(in_split),
                "unreadable_share": float(in_split["error_kind"].notna().mean()),
                "classes": len(stats.get("class_counts", {})),
                "classes_missing": missing.get(split, 0),
                "prior_shift": shift["jensen_shannon"] if shift["p_value"] < p_value else 0.0,
                "prior_shift_p_value": shift["p_value"],
                "value_scale": norm.get("scale"),
                "channels": shape.get("channels"),
                "height": shape.get("height"),
                "width": shape.get("width"),
                "cross_split_duplicates": duplicates.get(split, 0),
                "label_conflicts": conflicts.get(split, 0),
                "group_overlaps": groups.get(split, 0),
                "indexed_duplicates": indexed_copies.get(split, 0),
            }
        )
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS).set_index("split", drop=False)


def image_table(table: pd.DataFrame) -> pd.DataFrame:
    """The ImageTable columns a suite can use, indexed by image id."""
    return table[IMAGE_COLUMNS].set_index("id", drop=False)
