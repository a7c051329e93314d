"""Integrity: images that could not be read or are not what they claim, file by file.

Reads the columns the profiler filled (a check never opens a file): failures
(``error_kind``: undecodable, truncated, empty, over the pixel limit, ...),
the real format against the file extension, the EXIF orientation, tiny
images and colour modes mixed within a split.
"""

from __future__ import annotations

import pandas as pd

from audit.checks.evidence import image_finding
from audit.config import IntegrityConfig
from audit.result import Finding, name_ids
from audit.table import decoded

DESCRIPTIONS = {
    "empty_file": ("empty (0-byte) file", "re-export or remove the empty files"),
    "not_an_image": ("file that is not an image", "remove them or fix their content"),
    "truncated": (
        "truncated image",
        "re-download or re-export them; a partial image trains on garbage",
    ),
    "corrupt": ("corrupt image", "re-export them from the original source or remove them"),
    "missing_file": ("missing file", "fix the manifest paths or restore the files"),
    "unreadable": ("unreadable file", "fix the file permissions or remove them"),
    "too_large": (
        "image over the pixel limit",
        "check them: huge images may be decompression bombs",
    ),
}


EXTENSION_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".gif": "gif",
    ".bmp": "bmp",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
}
"""The format a file extension promises."""

CHANNEL_MODES = {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA"}


def _wrong_extension(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """Files whose content is another format than their extension says."""
    suffix = table["id"].str.extract(r"(\.[^./]+)$", expand=False).str.lower()
    promised = suffix.map(EXTENSION_FORMATS)
    wrong = table[promised.notna() & table["format"].notna() & (promised != table["format"])]
    if wrong.empty:
        return []
    finding = image_finding(
        "integrity.wrong_extension",
        cfg.wrong_extension_severity,
        wrong,
        "file(s) whose content is another format than the extension says",
        "Re-save them in the format their name says, or rename them; loaders that pick a "
        "decoder by extension (or filter by it) fail or skip them.",
        cfg.max_ids_in_message,
    )
    actual = dict(zip(wrong["id"], wrong["format"], strict=True))
    finding.evidence["actual_format"] = dict(list(actual.items())[:1000])
    return [finding]


def _exif_rotated(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """Images whose EXIF orientation asks viewers to rotate or mirror them."""
    rotated = table[table["orientation"] > 1]
    if rotated.empty:
        return []
    finding = image_finding(
        "integrity.exif_rotated",
        cfg.exif_rotated_severity,
        rotated,
        "image(s) with an EXIF rotation",
        "Bake the rotation into the pixels (PIL.ImageOps.exif_transpose) and drop the tag: "
        "tf.io.decode_image ignores EXIF, most viewers and PIL-based loaders apply it, so "
        "the model trains on a different orientation than people labelled.",
        cfg.max_ids_in_message,
    )
    finding.evidence["orientation"] = dict(
        list(zip(rotated["id"], rotated["orientation"].astype(int), strict=True))[:1000]
    )
    return [finding]


def _tiny(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """Images below ``tiny_side`` pixels, or far smaller than their split's typical image."""
    rows = decoded(table)
    side = rows[["height", "width"]].min(axis=1)
    median = side.groupby(rows["split"]).transform("median")
    tiny = rows[(side < cfg.tiny_side) | (side < cfg.tiny_fraction * median)]
    if tiny.empty:
        return []
    return [
        image_finding(
            "integrity.tiny_image",
            cfg.tiny_severity,
            tiny,
            f"tiny image(s) (under {cfg.tiny_side} px, or under {cfg.tiny_fraction:.0%} of "
            "their split's typical side)",
            "Check them: icons, thumbnails or failed crops scraped in among the photos are "
            "upscaled to garbage; remove them or source full-size copies.",
            cfg.max_ids_in_message,
        )
    ]


def _mixed_modes(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """Splits whose images mix colour modes (grayscale, RGB, RGBA)."""
    rows = decoded(table)
    findings = []
    for split, r in rows.groupby("split", sort=False):
        counts = r["channels"].value_counts()
        if len(counts) < 2:
            continue
        modes = {CHANNEL_MODES.get(int(c), f"{int(c)} channels"): int(n) for c, n in counts.items()}
        minority = r[r["channels"] != counts.index[0]]
        finding = image_finding(
            "integrity.mixed_color_modes",
            cfg.mixed_modes_severity,
            minority,
            f"image(s) in {split} whose colour mode differs from the usual "
            f"{CHANNEL_MODES.get(int(counts.index[0]), '?')} "
            f"({', '.join(f'{n} {m}' for m, n in modes.items())})",
            "Convert every image to one mode when loading (color_mode='rgb' in Keras loaders, "
            "Image.convert('RGB')), so alpha and grayscale images do not change the input.",
            cfg.max_ids_in_message,
        )
        finding.evidence["modes"] = modes
        findings.append(finding)
    return findings


def find_integrity(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """Unreadable files by kind (``integrity.<kind>``), then format, EXIF, size and mode issues."""
    return (
        _unreadable(table, cfg)
        + _wrong_extension(table, cfg)
        + _exif_rotated(table, cfg)
        + _tiny(table, cfg)
        + _mixed_modes(table, cfg)
    )


def _unreadable(table: pd.DataFrame, cfg: IntegrityConfig) -> list[Finding]:
    """One finding per failure kind (``integrity.<kind>``), naming every affected file."""
    failed = table[table["error_kind"].notna()]
    findings = []
    for kind, rows in failed.groupby("error_kind", sort=True):
        noun, fix = DESCRIPTIONS.get(str(kind), (f"{kind} image", "inspect and fix or remove them"))
        ids = rows["id"].tolist()
        plural = "s" if len(ids) != 1 else ""
        findings.append(
            Finding(
                check=f"integrity.{kind}",
                severity=cfg.unreadable_severity,
                message=f"{len(ids)} {noun}{plural}: {name_ids(ids, cfg.max_ids_in_message)}",
                count=len(ids),
                evidence={
                    "ids": ids,
                    "errors": dict(zip(ids, rows["error"].tolist(), strict=True)),
                    "per_split": rows.groupby("split").size().to_dict(),
                },
                fix=f"{fix.capitalize()}; the rest of the dataset was audited without them.",
            )
        )
    return findings
