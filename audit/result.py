"""The result model: plain frozen dataclasses that serialise to report.json.

The JSON layout is a contract (DESIGN.md); ``AuditResult.to_dict`` produces it
and ``reports/schema/report.schema.json`` describes it. Extend only by adding
fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0.0"
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """One thing a check found, with the evidence behind it and what to do.

    Attributes:
        check: dotted id, family first (``integrity.truncated``).
        severity: ``error``, ``warning`` or ``info``.
        message: one short sentence naming what was found.
        count: how many images (or pairs, groups) it concerns.
        evidence: the numbers and ids behind it (JSON-serialisable).
        fix: the concrete next step.

    """

    check: str
    severity: str
    message: str
    count: int
    evidence: dict[str, Any]
    fix: str

    def __post_init__(self) -> None:
        """Reject an unknown severity early, where the bug is."""
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def family(self) -> str:
        """The check family (``integrity`` for ``integrity.truncated``)."""
        return self.check.split(".", 1)[0]


def name_ids(ids: list[str], limit: int = 5) -> str:
    """Ids for a finding's message: ``a, b, c`` or ``a, b and 3 more``."""
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"


@dataclass(frozen=True)
class DatasetSummary:
    """What was audited."""

    source: str
    kind: str
    splits: dict[str, int]
    classes: list[str]


@dataclass(frozen=True)
class DuplicatePair:
    """Two images that are the same picture (``exact``) or nearly so (``near``)."""

    a: str
    b: str
    kind: str
    hamming: int
    similarity: float


@dataclass(frozen=True)
class GroupMember:
    """An image of a duplicate group."""

    id: str
    split: str
    label: str | None


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are all copies of one another (a connected component of the pairs)."""

    members: list[GroupMember]
    cross_split: bool
    label_conflict: bool
    similarity: float  # lowest thumbnail similarity among its pairs (1.0: all exact copies)


@dataclass(frozen=True)
class Leakage:
    """Duplicate pairs across and within splits, those whose labels differ, and the groups.

    ``groups`` lists at most ``max_report_groups`` groups (cross-split and
    label-conflicting ones first, then the largest); ``groups_total`` counts all.
    """

    pairs: list[DuplicatePair] = field(default_factory=list)
    label_conflicts: list[DuplicatePair] = field(default_factory=list)
    groups: list[DuplicateGroup] = field(default_factory=list)
    groups_total: int = 0


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation of the gate's suite and how the data met it.

    Attributes:
        name: how the suite names it (``meta.name``).
        table: ``images`` or ``splits``.
        expectation: the Great Expectations type.
        column: the column it bounds, if any.
        success: whether the data met it.
        observed: what was found, in words (``test: 32``, ``2 distinct values``).
        description: what it asks, from the suite.

    """

    name: str
    table: str
    expectation: str
    column: str | None
    success: bool
    observed: str
    description: str


@dataclass(frozen=True)
class Gate:
    """The pass/fail decision and why."""

    passed: bool
    failed_expectations: list[str]
    fail_on: str
    failed_checks: list[str]


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit produced; renderers read only this."""

    dataset: DatasetSummary
    findings: list[Finding]
    leakage: Leakage
    balance: dict[str, Any]
    normalization: dict[str, Any]
    gate: Gate
    attribution: dict[str, Any] | None
    checks_run: list[str]
    command: str
    tool_version: str
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    suite: str = ""
    drift: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    thumbnails: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report.json document."""
        doc = {"schema_version": SCHEMA_VERSION}
        doc.update(asdict(self))
        return doc
