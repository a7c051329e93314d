"""Integrity: images that could not be read, named file by file.

Reads the ``error_kind``/``error`` columns the profiler filled (a check never
opens a file) and reports one finding per kind of failure, naming the files.
"""

from __future__ import annotations

import pandas as pd

from audit.config import IntegrityConfig
from audit.result import Finding, name_ids

DESCRIPTIONS = {
    "empty_file": ("empty (0-byte) file", "re-export or remove the empty files"),
    "not_an_image": ("file that is not an image", "remove them or fix their content"),
    "truncated": (
        "truncated image",
        "re-download or re-export them; a partial image trains on garbage",
    ),
    "corrupt": ("corrupt image", "re-export them from the original source or remove them"),
    "missing_file": ("missing file", "fix the manifest paths or restore the files"),
    "unreadable": ("unreadable file", "fix the file permissions or remove them"),
    "too_large": (
        "image over the pixel limit",
        "check them: huge images may be decompression bombs",
    ),
}


def find_integrity(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """One finding per failure kind (``integrity.<kind>``), naming every affected file."""
    failed = table[table["error_kind"].notna()]
    findings = []
    for kind, rows in failed.groupby("error_kind", sort=True):
        noun, fix = DESCRIPTIONS.get(str(kind), (f"{kind} image", "inspect and fix or remove them"))
        ids = rows["id"].tolist()
        plural = "s" if len(ids) != 1 else ""
        findings.append(
            Finding(
                check=f"integrity.{kind}",
                severity=cfg.unreadable_severity,
                message=f"{len(ids)} {noun}{plural}: {name_ids(ids, cfg.max_ids_in_message)}",
                count=len(ids),
                evidence={
                    "ids": ids,
                    "errors": dict(zip(ids, rows["error"].tolist(), strict=True)),
                    "per_split": rows.groupby("split").size().to_dict(),
                },
                fix=f"{fix.capitalize()}; the rest of the dataset was audited without them.",
            )
        )
    return findings
