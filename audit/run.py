"""Wiring of the stages: source -> profile -> checks -> gate -> AuditResult.

Only wiring: each stage lives in its own module. This is also the Python API:
``run_check(open_source("data/"))`` or ``run_check(from_datasets({...}))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit import __version__
from audit.checks import CHECKS
from audit.config import AuditConfig
from audit.gate import decide
from audit.result import SEVERITY_RANK, AuditResult, DatasetSummary, Finding, Leakage
from audit.summaries import balance_summary, normalization_summary
from pipelines.cache import profile_cached
from pipelines.progress import Progress
from pipelines.sources.base import Source


@dataclass(frozen=True)
class CheckRun:
    """An audit result with the table it was computed from."""

    result: AuditResult
    table: pd.DataFrame
    cache_hit: bool


def summarize_dataset(source: Source, table: pd.DataFrame) -> DatasetSummary:
    """Dataset block of the report: source, images per split, class names."""
    splits = {str(k): int(v) for k, v in table.groupby("split", sort=False).size().items()}
    classes = list(source.class_names) or sorted(table["class_name"].dropna().unique().tolist())
    return DatasetSummary(source=source.location, kind=source.kind, splits=splits, classes=classes)


def run_checks(table: pd.DataFrame, cfg: AuditConfig) -> tuple[list[Finding], Leakage]:
    """Every check over the table: findings sorted by severity then id, and the leakage block."""
    outputs = [check.run(table, cfg) for check in CHECKS]
    findings = sorted(
        (f for out in outputs for f in out.findings),
        key=lambda f: (-SEVERITY_RANK[f.severity], f.check),
    )
    leakage = next((out.leakage for out in outputs if out.leakage is not None), Leakage())
    return findings, leakage


def run_check(
    source: Source,
    cfg: AuditConfig | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    command: str = "",
) -> CheckRun:
    """Profile ``source`` and run the data checks and the gate (no training)."""
    cfg = cfg or AuditConfig()
    table, hit = profile_cached(source, cfg.profile, cache_dir, progress)
    findings, leakage = run_checks(table, cfg)
    result = AuditResult(
        dataset=summarize_dataset(source, table),
        findings=findings,
        leakage=leakage,
        balance=balance_summary(table),
        normalization=normalization_summary(table, cfg.normalization),
        gate=decide(findings, cfg.fail_on),
        attribution=None,
        checks_run=[c.family for c in CHECKS],
        command=command,
        tool_version=__version__,
    )
    return CheckRun(result=result, table=table, cache_hit=hit)
