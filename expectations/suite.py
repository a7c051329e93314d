"""Expectation suites: the gate's thresholds as a Great Expectations 1.x JSON file.

A suite is GE's own JSON (``name``, ``expectations``: ``type``, ``kwargs``,
``meta``). Each expectation's ``meta.table`` says which table it runs on
(``images`` or ``splits``, see ``expectations.tables``) and ``meta.name``
how the gate reports it. The default suite ships with the package;
``leakage-audit suite init`` writes it out for editing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from audit.errors import UserError
from expectations.tables import IMAGE_COLUMNS, SPLIT_COLUMNS
from reports.io import atomic_write_text

TABLE_COLUMNS = {"images": IMAGE_COLUMNS, "splits": SPLIT_COLUMNS}


@dataclass(frozen=True)
class Suite:
    """A loaded suite: its name, where it came from, and its expectations (GE dicts)."""

    name: str
    origin: str
    expectations: list[dict[str, Any]]

    def for_table(self, table: str) -> list[dict[str, Any]]:
        """The expectations that run on ``table``."""
        return [e for e in self.expectations if e["meta"]["table"] == table]


def default_suite_text() -> str:
    """The default suite's JSON text, as shipped in the package."""
    return files("expectations").joinpath("default_suite.json").read_text(encoding="utf-8")


def expectation_name(expectation: dict[str, Any]) -> str:
    """How an expectation is reported: ``meta.name``, else its type and column."""
    meta = expectation.get("meta") or {}
    if meta.get("name"):
        return str(meta["name"])
    column = (expectation.get("kwargs") or {}).get("column")
    return f"{expectation['type']}({column})" if column else str(expectation["type"])


def _checked(expectation: Any, where: str, position: int) -> dict[str, Any]:
    """One expectation, with its table and column checked; UserError naming it otherwise."""
    label = f"{where}: expectation {position + 1}"
    if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
        raise UserError(f"{label}: needs a 'type' (e.g. expect_column_values_to_be_between)")
    meta = expectation.get("meta") or {}
    table = meta.get("table")
    if table not in TABLE_COLUMNS:
        raise UserError(
            f"{label} ({expectation['type']}): meta.table must be one of "
            f"{', '.join(TABLE_COLUMNS)}, not {table!r}"
        )
    kwargs = expectation.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise UserError(f"{label}: 'kwargs' must be an object")
    column = kwargs.get("column")
    if column is not None and column not in TABLE_COLUMNS[table]:
        raise UserError(
            f"{label} ({expectation_name(expectation)}): the {table} table has no column "
            f"{column!r} (columns: {', '.join(TABLE_COLUMNS[table])})"
        )
    return {"type": expectation["type"], "kwargs": kwargs, "meta": {**meta, "table": table}}


def parse_suite(text: str, origin: str) -> Suite:
    """A Suite from JSON text; a clear UserError for anything a gate could not run."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{origin}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("expectations"), list):
        raise UserError(f"{origin}: not an expectation suite (needs an 'expectations' list)")
    expectations = [_checked(e, origin, k) for k, e in enumerate(doc["expectations"])]
    names = [expectation_name(e) for e in expectations]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"{origin}: expectation names used twice: {', '.join(twice)}")
    return Suite(
        name=str(doc.get("name") or Path(origin).stem), origin=origin, expectations=expectations
    )


def load_suite(path: Path | None) -> Suite:
    """The suite at ``path``, or the default suite when ``path`` is None."""
    if path is None:
        return parse_suite(default_suite_text(), "default suite")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: suite file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read suite: {exc}") from None
    return parse_suite(text, str(path))


def write_default_suite(path: Path, force: bool = False) -> None:
    """Write the default suite to ``path`` for editing (refuses to overwrite unless ``force``)."""
    if path.exists() and not force:
        raise UserError(f"{path}: exists; pass --force to overwrite it")
    if path.parent and not path.parent.is_dir():
        raise UserError(f"{path.parent}: folder does not exist")
    atomic_write_text(path, default_suite_text())
