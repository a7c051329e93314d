"""report.html: one self-contained page rendered with Jinja2 from the report.json document.

The page takes everything from the report dict (the same document that
report.json holds, so ``leakage-audit report DIR`` re-renders it). CSS, the
small filter/sort script and the thumbnails (PNG data URIs) are inline; a
Content-Security-Policy forbids loading anything else and runs only the
script whose hash it names, and Jinja2's autoescaping renders whatever a
dataset carries in its names as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from audit.errors import UserError
from reports.io import atomic_write_text

MAX_GROUPS_SHOWN = 60
"""Duplicate groups drawn as galleries; the rest are counted (and listed in report.json)."""


def _fmt(value: Any) -> str:
    """A number for a table cell: 4 significant digits, a dash for None."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def _pct(value: float | None) -> str:
    """An accuracy (0..1) as a percentage."""
    return "—" if value is None else f"{100 * value:.1f}%"


def _environment() -> Environment:
    """The Jinja2 environment: autoescaping on for every template, helpers registered."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["family"] = lambda check: str(check).split(".", 1)[0]
    env.globals.update(fmt=_fmt, pct=_pct, max_groups=MAX_GROUPS_SHOWN)
    return env


def render_html(report: dict[str, Any]) -> str:
    """The report.html text of a report.json document."""
    script = resources.files("reports").joinpath("templates", "report.js").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    template = _environment().get_template("report.html.j2")
    return template.render(r=report, script=Markup(script), script_hash=f"sha256-{digest}")


def write_html(report: dict[str, Any], path: Path) -> None:
    """Write report.html atomically."""
    atomic_write_text(path, render_html(report))


def read_report(folder: Path) -> dict[str, Any]:
    """The report.json document in ``folder``; a clear UserError when missing or not a report."""
    path = folder / "report.json" if folder.is_dir() else folder
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no report.json here (run 'leakage-audit check' first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the report ({exc})") from None
    if not isinstance(report, dict) or "schema_version" not in report:
        raise UserError(f"{path}: not a leakage-audit report (no schema_version)")
    return report
