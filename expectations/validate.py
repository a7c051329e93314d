"""Run a suite with Great Expectations against the gate tables.

Each table becomes a pandas batch in an ephemeral, in-memory GE context
(no files, no analytics, no progress bars); the expectations whose
``meta.table`` names it are validated on it. The outcome is GE's own
validation result (written as ``validation.json``) and one
``ExpectationOutcome`` per expectation for the gate, the terminal and JUnit.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from audit.errors import UserError
from audit.result import ExpectationOutcome
from expectations.suite import Suite, expectation_name

MAX_NAMED = 5


@dataclass(frozen=True)
class SuiteRun:
    """Per-expectation outcomes and GE's validation results per table."""

    outcomes: list[ExpectationOutcome]
    validation: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        """Names of the expectations the data did not meet."""
        return [o.name for o in self.outcomes if not o.success]


def _context() -> Any:
    """An in-memory GE context with analytics and progress bars off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _ge_suite(suite: Suite, table: str) -> Any:
    """The GE ExpectationSuite of ``suite``'s expectations on ``table``.

    Each expectation is built on its own first: GE's suite constructor logs
    and drops an invalid one, which would silently weaken the gate.
    """
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = suite.for_table(table)
    for expectation in expectations:
        try:
            ExpectationConfiguration(**expectation).to_domain_obj()
        except Exception as exc:  # GE raises several kinds for a bad configuration
            message = getattr(exc, "message", None) or str(exc).split("\n", 1)[0]
            raise UserError(
                f"{suite.origin}: expectation {expectation_name(expectation)} is invalid: {message}"
            ) from None
    return gx.ExpectationSuite(name=f"{suite.name}.{table}", expectations=expectations)


def check_suite(suite: Suite) -> None:
    """Build the suite's GE expectations once, so a bad suite fails before any profiling."""
    _context()
    for table in {e["meta"]["table"] for e in suite.expectations}:
        _ge_suite(suite, table)


def _observed(result: dict[str, Any], index_name: str) -> str:
    """What an expectation saw, in words: the rows that broke it, or the observed value."""
    details = result.get("result") or {}
    rows = details.get("unexpected_index_list")
    if rows:
        named = [
            f"{r.get(index_name)}: {next((v for k, v in r.items() if k != index_name), '')}"
            for r in rows[:MAX_NAMED]
        ]
        more = len(rows) - MAX_NAMED
        share = details.get("unexpected_percent")
        tail = f" and {more} more" if more > 0 else ""
        pct = f" ({share:.1f}% of images)" if share is not None and index_name == "id" else ""
        return ", ".join(named) + tail + pct
    if "observed_value" in details:
        return f"observed {details['observed_value']}"
    exception = result.get("exception_info") or {}
    if exception.get("raised_exception"):
        return f"could not be evaluated: {exception.get('exception_message')}"
    return "met" if result.get("success") else "not met"


def run_suite(suite: Suite, tables: dict[str, pd.DataFrame]) -> SuiteRun:
    """Validate ``suite`` on ``tables`` (``images``, ``splits``) with Great Expectations."""
    context = _context()
    source = context.data_sources.add_pandas("leakage_audit")
    outcomes: dict[str, ExpectationOutcome] = {}
    validation: dict[str, Any] = {"suite": suite.name, "origin": suite.origin, "tables": {}}
    for table, frame in tables.items():
        if not suite.for_table(table):
            continue
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
        result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
            _ge_suite(suite, table), result_format="COMPLETE"
        )
        doc = result.to_json_dict()
        validation["tables"][table] = doc
        for item in doc["results"]:
            config = item["expectation_config"]
            name = expectation_name(config)
            outcomes[name] = ExpectationOutcome(
                name=name,
                table=table,
                expectation=str(config["type"]),
                column=config["kwargs"].get("column"),
                success=bool(item["success"]),
                observed=_observed(item, str(frame.index.name)),
                description=str(config.get("meta", {}).get("description", "")),
            )
    ordered = [outcomes[expectation_name(e)] for e in suite.expectations]
    validation["success"] = all(o.success for o in ordered)
    return SuiteRun(outcomes=ordered, validation=validation)
