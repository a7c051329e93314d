"""Wiring of the stages: source -> profile -> checks -> gate -> AuditResult.

Only wiring: each stage lives in its own module. This is also the Python API:
``run_check(open_source("data/"))`` or ``run_check(from_datasets({...}))``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit import __version__
from audit.checks import CHECKS, Precomputed
from audit.checks.leakage import find_indexed_duplicates
from audit.config import AuditConfig
from audit.gate import decide
from audit.result import SEVERITY_RANK, AuditResult, DatasetSummary, Finding, Leakage
from audit.summaries import balance_summary, drift_summary, normalization_summary
from audit.table import thumbnail_uris
from expectations.suite import Suite, load_suite
from expectations.tables import image_table, split_table
from expectations.validate import run_suite
from pipelines.cache import profile_cached
from pipelines.dataset_index import DatasetIndex
from pipelines.progress import NullProgress, Progress
from pipelines.sources.base import Source

MAX_CONFLICT_THUMBS = 200
"""Label-conflict pairs whose thumbnails the report embeds (beyond the listed groups)."""


@dataclass(frozen=True)
class BeamSettings:
    """Run the profile and the duplicate join on Apache Beam (``check --runner``)."""

    runner: str
    options: list[str]
    work_dir: str  # shards and pairs; a path every worker can write on a cluster


@dataclass(frozen=True)
class CheckRun:
    """An audit result with the table it was computed from and GE's validation result."""

    result: AuditResult
    table: pd.DataFrame
    cache_hit: bool
    validation: dict[str, Any] = field(default_factory=dict)


def summarize_dataset(source: Source, table: pd.DataFrame) -> DatasetSummary:
    """Dataset block of the report: source, images per split, class names."""
    splits = {str(k): int(v) for k, v in table.groupby("split", sort=False).size().items()}
    classes = list(source.class_names) or sorted(table["class_name"].dropna().unique().tolist())
    return DatasetSummary(source=source.location, kind=source.kind, splits=splits, classes=classes)


def run_checks(
    table: pd.DataFrame,
    cfg: AuditConfig,
    pre: Precomputed | None = None,
    progress: Progress | None = None,
) -> tuple[list[Finding], Leakage]:
    """Every check over the table: findings sorted by severity then id, and the leakage block."""
    progress = progress or NullProgress()
    progress.start("running the checks", len(CHECKS), unit="checks")
    outputs = []
    try:
        for check in CHECKS:
            outputs.append(check.run(table, cfg, pre or Precomputed()))
            progress.advance(1)
    finally:
        progress.finish()
    findings = sorted(
        (f for out in outputs for f in out.findings),
        key=lambda f: (-SEVERITY_RANK[f.severity], f.check),
    )
    leakage = next((out.leakage for out in outputs if out.leakage is not None), Leakage())
    return findings, leakage


def audit_table(
    source: Source,
    table: pd.DataFrame,
    cfg: AuditConfig,
    suite: Suite,
    command: str = "",
    against: DatasetIndex | None = None,
    pre: Precomputed | None = None,
    progress: Progress | None = None,
) -> tuple[AuditResult, dict[str, Any]]:
    """Checks, summaries and the gate (findings and suite) over a profiled table.

    With ``against``, the table is a new batch and its duplicates of the
    indexed images are findings and pairs too. ``pre`` holds what a Beam
    run already computed.
    """
    findings, leakage = run_checks(table, cfg, pre, progress)
    if against is not None:
        radius = cfg.leakage.phash_radius
        extra, pairs = find_indexed_duplicates(
            table,
            against.table,
            lambda h: against.search(h, radius),
            cfg.leakage,
            against.neighbours,
        )
        findings = sorted(findings + extra, key=lambda f: (-SEVERITY_RANK[f.severity], f.check))
        leakage = Leakage(pairs=leakage.pairs + pairs, label_conflicts=leakage.label_conflicts)
    balance = balance_summary(table)
    normalization = normalization_summary(table, cfg.normalization)
    tables = {
        "images": image_table(table),
        "splits": split_table(table, findings, balance, normalization, cfg.balance.p_value),
    }
    suite_run = run_suite(suite, tables)
    shown = [m.id for g in leakage.groups for m in g.members]
    shown += [i for p in leakage.label_conflicts[:MAX_CONFLICT_THUMBS] for i in (p.a, p.b)]
    result = AuditResult(
        dataset=summarize_dataset(source, table),
        findings=findings,
        leakage=leakage,
        balance=balance,
        normalization=normalization,
        gate=decide(findings, cfg.fail_on, suite_run.failed),
        attribution=None,
        checks_run=[c.family for c in CHECKS],
        command=command,
        tool_version=__version__,
        expectations=suite_run.outcomes,
        suite=suite.origin,
        drift=drift_summary(table, cfg),
        config=dataclasses.asdict(cfg),
        thumbnails=thumbnail_uris(table, shown),
    )
    return result, suite_run.validation


def run_check(
    source: Source,
    cfg: AuditConfig | None = None,
    *,
    suite: Suite | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    command: str = "",
    against: DatasetIndex | None = None,
    beam: BeamSettings | None = None,
    profiled: tuple[pd.DataFrame, bool] | None = None,
) -> CheckRun:
    """Profile ``source``, run the data checks and the gate (no training).

    ``suite`` is the expectation suite (default: the one shipped in the
    package); ``against`` an indexed dataset the source is a new batch for;
    ``beam`` runs the profile and the duplicate join on Apache Beam instead;
    ``profiled`` is ``source``'s table (and whether it came from the cache)
    when it was profiled elsewhere (the CLI's second process).
    """
    cfg = cfg or AuditConfig()
    pre = None
    if profiled is not None:
        table, hit = profiled
    elif beam is None:
        table, hit = profile_cached(source, cfg.profile, cache_dir, progress)
    else:
        from pipelines.beam import run_beam

        progress = progress or NullProgress()
        progress.start(f"profiling and joining on Beam ({beam.runner})", None)
        try:
            table, pairs = run_beam(
                source, cfg.profile, cfg.leakage, beam.runner, beam.options, beam.work_dir
            )
        finally:
            progress.finish()
        hit, pre = False, Precomputed(hash_pairs=pairs)
    suite = suite or load_suite(None)
    result, validation = audit_table(source, table, cfg, suite, command, against, pre, progress)
    return CheckRun(result=result, table=table, cache_hit=hit, validation=validation)


def run_audit(
    source: Source,
    cfg: AuditConfig | None = None,
    *,
    suite: Suite | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    command: str = "",
) -> CheckRun:
    """``run_check``, then train the reference CNN and attribute the train/test gap."""
    from audit.attribution import attribute_source

    cfg = cfg or AuditConfig()
    run = run_check(
        source, cfg, suite=suite, cache_dir=cache_dir, progress=progress, command=command
    )
    progress = progress or NullProgress()
    progress.start("training the reference CNN and its counterfactuals", None)
    try:
        attribution = attribute_source(source, run.table, run.result.leakage, cfg.attribution)
    finally:
        progress.finish()
    result = dataclasses.replace(run.result, attribution=attribution)
    return dataclasses.replace(run, result=result)
