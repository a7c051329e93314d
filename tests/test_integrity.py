"""Integrity beyond decoding: wrong extensions, EXIF rotation, bombs, tiny images, mixed modes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from audit.checks.integrity import find_integrity
from audit.config import IntegrityConfig, ProfileConfig
from audit.sample_data import photo_crops, save_image
from audit.table import decoded
from pipelines.profile import profile_source
from pipelines.sources import open_source


def _findings(root, cfg=None):
    table = profile_source(open_source(str(root)), cfg or ProfileConfig())
    return table, {f.check: f for f in find_integrity(table, IntegrityConfig())}


@pytest.fixture()
def photo_dir(tmp_path):
    """ROOT/<class>/ of 12 real photo crops (PNG, 64x64 RGB)."""
    for k, photo in enumerate(photo_crops(12, 64, seed=9)):
        save_image(photo, tmp_path / f"c{k % 2}" / f"{k:02d}.png")
    return tmp_path


def test_planted_format_faults_are_named(photo_dir):
    photo = photo_crops(1, 64, seed=10)[0]
    Image.fromarray(photo).save(photo_dir / "c0" / "really_a_jpeg.png", format="JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(photo).save(photo_dir / "c0" / "rotated.jpg", exif=exif.tobytes())
    Image.fromarray(photo[:6, :6]).save(photo_dir / "c1" / "tiny.png")
    Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])).save(
        photo_dir / "c1" / "alpha.png"
    )
    table, found = _findings(photo_dir)
    assert found["integrity.wrong_extension"].evidence["ids"] == ["c0/really_a_jpeg.png"]
    assert found["integrity.wrong_extension"].evidence["actual_format"] == {
        "c0/really_a_jpeg.png": "jpeg"
    }
    assert found["integrity.exif_rotated"].evidence["orientation"] == {"c0/rotated.jpg": 6}
    assert found["integrity.tiny_image"].evidence["ids"] == ["c1/tiny.png"]
    assert found["integrity.mixed_color_modes"].evidence["ids"] == ["c1/alpha.png"]
    assert found["integrity.mixed_color_modes"].evidence["modes"] == {"RGB": 15, "RGBA": 1}
    for check in ("wrong_extension", "exif_rotated", "tiny_image", "mixed_color_modes"):
        assert found[f"integrity.{check}"].severity == "warning"
    assert len(decoded(table)) == 16  # each is reported and still audited


def test_clean_photos_have_no_integrity_finding(photo_dir):
    assert _findings(photo_dir)[1] == {}


def _png_bomb(path, side):
    """A valid grayscale PNG of ``side`` x ``side`` zero pixels: a few hundred KB on disk."""
    row = b"\x00" * (side + 1)  # filter byte + pixels
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    path.write_bytes(png)


def test_decompression_bomb_is_refused_before_decoding(photo_dir):
    """A 20,000 x 20,000 PNG (400 MB decoded) is reported, not decoded; the rest is audited."""
    _png_bomb(photo_dir / "c0" / "bomb.png", 20_000)
    assert (photo_dir / "c0" / "bomb.png").stat().st_size < 2_000_000
    table, found = _findings(photo_dir)
    bomb = found["integrity.too_large"]
    assert bomb.severity == "error" and bomb.evidence["ids"] == ["c0/bomb.png"]
    assert "decompression bomb" in bomb.evidence["errors"]["c0/bomb.png"]
    assert len(decoded(table)) == 12


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_pixel_limit_applies_to_every_format(fmt, tmp_path):
    photo = photo_crops(2, 64, seed=11)
    (tmp_path / "k").mkdir()
    Image.fromarray(photo[0]).save(tmp_path / "k" / f"big.{fmt.lower()}", format=fmt)
    Image.fromarray(photo[1][:32, :32]).save(tmp_path / "k" / f"small.{fmt.lower()}", format=fmt)
    table, found = _findings(tmp_path, ProfileConfig(max_pixels=40 * 40))
    assert found["integrity.too_large"].evidence["ids"] == [f"k/big.{fmt.lower()}"]
    assert decoded(table)["id"].tolist() == [f"k/small.{fmt.lower()}"]
    assert decoded(table)["format"].tolist() == [fmt.lower()]
