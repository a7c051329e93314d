"""The checks, as an explicit tuple: each reads the ImageTable and returns findings.

A check family lives in its own module named by what it detects. No discovery
by file name: adding a check means adding it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from audit.checks.integrity import find_integrity
from audit.config import AuditConfig
from audit.result import Finding


@dataclass(frozen=True)
class Check:
    """A check family and the function that runs it."""

    family: str
    run: Callable[[pd.DataFrame, AuditConfig], list[Finding]]


CHECKS: tuple[Check, ...] = (
    Check("integrity", lambda table, cfg: find_integrity(table, cfg.integrity)),
)

assert len({c.family for c in CHECKS}) == len(CHECKS), "duplicate check family"
