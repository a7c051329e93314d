"""The gate: does this dataset pass? Findings at or above ``fail_on`` fail it.

The Great Expectations suites join the decision in ``expectations`` (a later
step); until then ``failed_expectations`` is empty.
"""

from __future__ import annotations

from audit.result import SEVERITY_RANK, Finding, Gate


def decide(
    findings: list[Finding], fail_on: str, failed_expectations: list[str] | None = None
) -> Gate:
    """The gate for ``findings``: failed when any reaches ``fail_on`` or an expectation failed."""
    threshold = SEVERITY_RANK[fail_on]
    failing = sorted({f.check for f in findings if SEVERITY_RANK[f.severity] >= threshold})
    expectations = list(failed_expectations or [])
    return Gate(
        passed=not failing and not expectations,
        failed_expectations=expectations,
        fail_on=fail_on,
        failed_checks=failing,
    )
