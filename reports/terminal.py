"""Terminal output: the five-second summary and the progress bar.

Reads only the AuditResult; computes nothing.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Table

from audit.result import AuditResult
from pipelines.progress import NullProgress, Progress

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
TOP_FINDINGS = 10


class RichProgress:
    """A rich progress bar on stderr (shown only on a terminal)."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None, unit: str = "images") -> None:
        """Show a new bar."""
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, unit=unit)

    def advance(self, n: int) -> None:
        """Move the bar on."""
        if self._task is not None:
            self._bar.advance(self._task, n)

    def finish(self) -> None:
        """Remove the bar."""
        if self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None
        self._bar.stop()


def progress_bar(quiet: bool = False) -> Progress:
    """A progress bar on stderr, or nothing when ``quiet`` (by name, so it pickles)."""
    if quiet:
        return NullProgress()
    return RichProgress(Console(stderr=True, highlight=False))


def print_summary(result: AuditResult, outputs: list[Path], console: Console) -> None:
    """Gate status, failed expectations, top findings and where the reports are."""
    gate = result.gate
    status = "[bold green]PASSED[/]" if gate.passed else "[bold red]FAILED[/]"
    splits = ", ".join(f"{k}={v}" for k, v in result.dataset.splits.items())
    console.print(f"leakage-audit gate {status}  (fail on {gate.fail_on})")
    console.print(
        f"dataset  {result.dataset.source}  [{result.dataset.kind}]  {splits}, "
        f"{len(result.dataset.classes)} classes"
    )
    outcomes = {o.name: o for o in result.expectations}
    met = sum(o.success for o in result.expectations)
    if result.expectations:
        console.print(
            f"suite    {met}/{len(result.expectations)} expectations met  ({result.suite})"
        )
    for name in gate.failed_expectations:
        observed = f": {outcomes[name].observed}" if name in outcomes else ""
        console.print(f"  [red]failed expectation[/] {name}{observed}")
    if result.attribution:
        a = result.attribution
        line = (
            f"model    train {100 * a['train_accuracy']:.1f}%,"
            f" test {100 * a['test_accuracy']:.1f}%, gap {100 * a['gap']:.1f} points:"
            f" verdict [bold]{a['verdict']}[/]"
        )
        top = a["causes"][0] if a["causes"] else None
        if top and a["verdict"] != "none":
            line += f"; top cause {top['cause']} ({top['points']:.1f} points): {top['fix']}"
        console.print(line)
    if result.findings:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("severity", "check", "count", "finding"):
            table.add_column(column, overflow="fold")
        for f in result.findings[:TOP_FINDINGS]:
            table.add_row(
                f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", f.check, str(f.count), f.message
            )
        console.print(table)
        hidden = len(result.findings) - TOP_FINDINGS
        if hidden > 0:
            console.print(f"  ... and {hidden} more findings in the report")
    else:
        console.print("no findings")
    for path in outputs:
        console.print(f"report   {path}", soft_wrap=True)
