"""Findings that name the images they concern: ids in the message and the evidence."""

from __future__ import annotations

import pandas as pd

from audit.result import Finding, name_ids

MAX_LISTED_IDS = 1000
"""Ids listed in a finding's evidence (all are counted)."""


def image_finding(
    check: str,
    severity: str,
    rows: pd.DataFrame,
    noun: str,
    fix: str,
    max_in_message: int = 5,
) -> Finding:
    """A finding about ``rows`` (ImageTable rows): ``N noun: a, b and 3 more``, ids per split."""
    ids = rows["id"].tolist()
    return Finding(
        check=check,
        severity=severity,
        message=f"{len(ids)} {noun}: {name_ids(ids, max_in_message)}",
        count=len(ids),
        evidence={
            "ids": ids[:MAX_LISTED_IDS],
            "per_split": {str(k): int(v) for k, v in rows.groupby("split").size().items()},
        },
        fix=fix,
    )
