"""The checks, as an explicit tuple: each reads the ImageTable and returns findings.

A check family lives in its own module named by what it detects. No discovery
by file name: adding a check means adding it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from audit.checks.balance import find_balance
from audit.checks.drift import find_drift
from audit.checks.integrity import find_integrity
from audit.checks.leakage import find_leakage
from audit.checks.normalization import find_normalization
from audit.config import AuditConfig
from audit.result import Finding, Leakage


@dataclass(frozen=True)
class CheckOutput:
    """What a check family returns: findings, and the leakage block for the leakage family."""

    findings: list[Finding]
    leakage: Leakage | None = None


@dataclass(frozen=True)
class Precomputed:
    """Results a distributed driver already computed, which a check then does not redo."""

    hash_pairs: pd.DataFrame | None = None  # exact and near pairs from the Beam join


def _integrity(table: pd.DataFrame, cfg: AuditConfig, pre: Precomputed) -> CheckOutput:
    """Integrity findings."""
    return CheckOutput(find_integrity(table, cfg.integrity))


def _leakage(table: pd.DataFrame, cfg: AuditConfig, pre: Precomputed) -> CheckOutput:
    """Leakage findings and pairs."""
    result = find_leakage(table, cfg.leakage, pre.hash_pairs)
    return CheckOutput(result.findings, result.leakage)


def _balance(table: pd.DataFrame, cfg: AuditConfig, pre: Precomputed) -> CheckOutput:
    """Class balance findings."""
    return CheckOutput(find_balance(table, cfg.balance))


def _normalization(table: pd.DataFrame, cfg: AuditConfig, pre: Precomputed) -> CheckOutput:
    """Normalization consistency findings."""
    return CheckOutput(find_normalization(table, cfg.normalization))


def _drift(table: pd.DataFrame, cfg: AuditConfig, pre: Precomputed) -> CheckOutput:
    """Property drift findings."""
    return CheckOutput(find_drift(table, cfg))


@dataclass(frozen=True)
class Check:
    """A check family and the function that runs it."""

    family: str
    run: Callable[[pd.DataFrame, AuditConfig, Precomputed], CheckOutput]


CHECKS: tuple[Check, ...] = (
    Check("integrity", _integrity),
    Check("leakage", _leakage),
    Check("balance", _balance),
    Check("normalization", _normalization),
    Check("drift", _drift),
)

assert len({c.family for c in CHECKS}) == len(CHECKS), "duplicate check family"
