"""AuditConfig: every threshold and knob in one frozen, typed place.

Checks measure; this config (and the expectation suites) decide severity.
Loaded from TOML with ``load_config`` and overridden by CLI flags with
``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import UserError

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class ProfileConfig:
    """How images are profiled.

    Attributes:
        batch_size: images per tf.data batch of small images; same-shape
            images in a batch are measured in one vectorised call.
        batch_max_pixels: with ``batch_size`` sets a batch's memory budget of
            ``batch_size * batch_max_pixels * 4`` values; larger images batch
            in smaller groups, the largest alone.
        max_pixels: images with more pixels are refused as possible
            decompression bombs (reported, not decoded).

    """

    batch_size: int = 256
    batch_max_pixels: int = 256 * 256
    max_pixels: int = 89_478_485  # Pillow's own default bomb limit


@dataclass(frozen=True)
class IntegrityConfig:
    """Severities of integrity findings.

    Attributes:
        unreadable_severity: severity of undecodable, truncated, empty, missing
            or non-image files.
        max_ids_in_message: how many file ids a finding's message names.

    """

    unreadable_severity: str = "error"
    max_ids_in_message: int = 5


@dataclass(frozen=True)
class LeakageConfig:
    """Duplicate and group leakage detection.

    Attributes:
        phash_radius: pHash Hamming radius within which pairs become candidates.
        similarity: thumbnail correlation at which a candidate is confirmed as a
            near duplicate. The defaults (10 bits, 0.99) gave zero false pairs
            among 5,000 clean real MNIST digits (76,872 candidates).
        max_shift: pixels of translation searched when verifying on thumbnails.
        flip_invariant: also match horizontally flipped copies.
        group_pattern: regex on file names whose first group (or whole match)
            names the group (patient, session, video); overrides nothing when
            the source has a group column.
        max_report_pairs: pairs listed in report.json (all are counted).
        cross_split_severity / within_split_severity / label_conflict_severity
            / group_overlap_severity: severities of the four findings.

    """

    phash_radius: int = 10
    similarity: float = 0.99
    max_shift: int = 1
    flip_invariant: bool = False
    group_pattern: str | None = None
    max_report_pairs: int = 10_000
    cross_split_severity: str = "error"
    within_split_severity: str = "warning"
    label_conflict_severity: str = "error"
    group_overlap_severity: str = "error"


@dataclass(frozen=True)
class AuditConfig:
    """The whole audit configuration.

    Attributes:
        fail_on: lowest finding severity that fails the gate (``error`` or ``warning``).
        profile: profiling options.
        integrity: integrity check options.
        leakage: duplicate and group leakage options.

    """

    fail_on: str = "error"
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    leakage: LeakageConfig = field(default_factory=LeakageConfig)

    def __post_init__(self) -> None:
        """Reject settings that would make the gate meaningless."""
        if self.fail_on not in ("error", "warning"):
            raise UserError(f"fail_on must be 'error' or 'warning', not {self.fail_on!r}")
        if self.profile.batch_size < 1:
            raise UserError("profile.batch_size must be at least 1")
        if not 0 <= self.leakage.phash_radius <= 32:
            raise UserError("leakage.phash_radius must be between 0 and 32")


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, rejecting unknown keys by name."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"{where}: unknown setting {key!r} (known: {', '.join(known)})")
        sub = known[key].default_factory  # type: ignore[misc]
        if isinstance(value, dict) and dataclasses.is_dataclass(sub):
            kwargs[key] = _build(sub, value, f"{where}[{key}]")  # type: ignore[arg-type]
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_config(path: Path | None) -> AuditConfig:
    """Load an AuditConfig from a TOML file; defaults when ``path`` is None."""
    if path is None:
        return AuditConfig()
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read config: {exc}") from None
    try:
        return _build(AuditConfig, values, str(path))
    except TypeError as exc:
        raise UserError(f"{path}: {exc}") from None
