"""The progress protocol the pipelines report to; the CLI supplies the bar.

Pipelines never render: they call ``start``/``advance``/``finish`` on whatever
they are given (a rich bar in the CLI, nothing in the Python API).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of a long step."""

    def start(self, description: str, total: int | None, unit: str = "images") -> None:
        """A step begins; ``total`` (of ``unit``) is None when unknown."""

    def advance(self, n: int) -> None:
        """``n`` more items are done."""

    def finish(self) -> None:
        """The step ended."""


class NullProgress:
    """Reports nothing."""

    def start(self, description: str, total: int | None, unit: str = "images") -> None:
        """Ignore the start of a step."""

    def advance(self, n: int) -> None:
        """Ignore progress."""

    def finish(self) -> None:
        """Ignore the end of a step."""
