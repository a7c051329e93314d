"""JUnit XML: one test case per expectation and per check family, for CI systems.

CI servers (GitLab, Jenkins, GitHub test reporters) read JUnit files and show
each failed case by name, so a failed gate says *what* failed without
opening the report. Renders the AuditResult only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from audit.result import SEVERITY_RANK, AuditResult
from reports.io import atomic_write_text


def _suite(root: ET.Element, name: str, cases: list[ET.Element]) -> None:
    """Append a <testsuite> holding ``cases`` with its counts."""
    failures = sum(1 for c in cases if c.find("failure") is not None)
    suite = ET.SubElement(
        root, "testsuite", name=name, tests=str(len(cases)), failures=str(failures), errors="0"
    )
    suite.extend(cases)


def render_junit(result: AuditResult) -> str:
    """The JUnit XML document of an audit."""
    root = ET.Element("testsuites", name="leakage-audit")
    expectation_cases = []
    for outcome in result.expectations:
        case = ET.Element(
            "testcase", classname=f"leakage_audit.expectations.{outcome.table}", name=outcome.name
        )
        if not outcome.success:
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{outcome.name}: {outcome.observed}",
                type=outcome.expectation,
            )
            failure.text = (
                f"{outcome.description}\nexpectation: {outcome.expectation}"
                f"{f' on column {outcome.column}' if outcome.column else ''} "
                f"({outcome.table} table)\nobserved: {outcome.observed}"
            )
        expectation_cases.append(case)
    _suite(root, "expectations", expectation_cases)
    threshold = SEVERITY_RANK[result.gate.fail_on]
    family_cases = []
    for family in result.checks_run:
        found = [f for f in result.findings if f.family == family]
        failing = [f for f in found if SEVERITY_RANK[f.severity] >= threshold]
        case = ET.Element("testcase", classname="leakage_audit.findings", name=family)
        if failing:
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(failing)} finding(s) at or above {result.gate.fail_on}: "
                + ", ".join(f.check for f in failing),
                type="finding",
            )
            failure.text = "\n".join(
                f"[{f.severity}] {f.check}: {f.message}\n  fix: {f.fix}" for f in failing
            )
        below = [f for f in found if f not in failing]
        if below:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"[{f.severity}] {f.check}: {f.message}" for f in below)
        family_cases.append(case)
    _suite(root, "findings", family_cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(result: AuditResult, path: Path) -> None:
    """Write junit.xml atomically."""
    atomic_write_text(path, render_junit(result))
