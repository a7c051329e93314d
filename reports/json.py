"""report.json: the machine-readable result, the source of truth for every other format."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from audit.result import AuditResult
from reports.io import atomic_write_text

SCHEMA_FILE = "report.schema.json"


def _plain(value: Any) -> Any:
    """JSON fallback for NumPy scalars and arrays that slip into evidence."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def render_json(result: AuditResult) -> str:
    """The report.json text."""
    return json.dumps(result.to_dict(), indent=2, default=_plain, allow_nan=False) + "\n"


def write_json(result: AuditResult, path: Path) -> None:
    """Write report.json atomically."""
    atomic_write_text(path, render_json(result))


def write_validation(validation: dict[str, Any], path: Path) -> None:
    """Write Great Expectations' validation result (validation.json) atomically."""
    atomic_write_text(path, json.dumps(validation, indent=2, default=str) + "\n")


def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json that ships with the package."""
    text = resources.files("reports").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)
