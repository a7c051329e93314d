"""What an encoded image's header says before any pixel is decoded.

Three facts the integrity checks need and decoding loses: the real format
(a ``.png`` that holds a JPEG), the declared pixel count (a decompression
bomb must be refused *before* TF allocates it) and the EXIF orientation
(``tf.io.decode_image`` ignores it, Pillow's ``exif_transpose`` applies it,
so a rotated photo trains one way and serves another).

The pixel count of JPEG and PNG, nearly every image, is read in the graph
(``tf.image.extract_jpeg_shape``, the PNG IHDR); other formats ask Pillow,
which parses only the header. An image over the limit reaches its decoder as
empty bytes, fails there and is named by the profiler's diagnosis.
Orientation is read by Pillow from the first ``HEAD_BYTES`` only for images
that carry an EXIF block.
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow as tf
from PIL import Image

HEAD_BYTES = 65_536
"""Bytes of each file kept for header parsing (an EXIF APP1 segment is at most 64 KiB)."""

FORMATS = ("", "png", "jpeg", "gif", "bmp", "webp", "tiff")
"""Format codes: index into this tuple; 0 is unknown or not a file."""

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_MAGIC = (
    (_PNG_MAGIC, 1),
    (b"\xff\xd8\xff", 2),
    (b"GIF87a", 3),
    (b"GIF89a", 3),
    (b"BM", 4),
    (b"II*\x00", 6),
    (b"MM\x00*", 6),
)


def format_code(head: bytes) -> int:
    """The format code of encoded bytes, from their signature (0 when unknown)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FORMATS.index("webp")
    for magic, code in _MAGIC:
        if head.startswith(magic):
            return code
    return 0


def orientation(head: bytes) -> int:
    """EXIF orientation (1-8) of an image's first bytes; 0 when it has no EXIF orientation."""
    if b"Exif" not in head:
        return 0
    try:
        with Image.open(io.BytesIO(head)) as im:
            raw = im.info.get("exif")
            if not raw:
                return 0
            exif = Image.Exif()
            exif.load(raw)
            return int(exif.get(0x0112, 0))
    except Exception:  # a header Pillow cannot parse has no usable orientation
        return 0


def batch_header_info(heads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Format codes (int64) and EXIF orientations (int64) of a batch of file heads."""
    codes = np.array([format_code(h) for h in heads], np.int64)
    orient = np.array([orientation(h) for h in heads], np.int64)
    return codes, orient


def declared_pixels(head: bytes) -> np.int64:
    """Declared pixel count from Pillow's header parse; 0 when it cannot tell."""
    try:
        with Image.open(io.BytesIO(head)) as im:
            return np.int64(im.width) * np.int64(im.height)
    except Exception:  # decoding will fail and name the problem
        return np.int64(0)


def _blank_over(pixels: tf.Tensor, data: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """``data``, or empty bytes (which no decoder accepts) when ``pixels`` is over the limit.

    A select inside the decode branch: the assertion after a three-way
    ``tf.case`` that it replaces cost a fifth of a digit profile
    (``benchmarks/RESULTS.md``).
    """
    return tf.where(pixels > max_pixels, tf.constant(b""), data)


def jpeg_within_limit(data: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """JPEG ``data``, or empty bytes when its header declares more than ``max_pixels``."""
    shape = tf.image.extract_jpeg_shape(data, output_type=tf.int64)
    return _blank_over(tf.reduce_prod(shape[:2]), data, max_pixels)


def other_within_limit(data: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """Non-JPEG ``data``, or empty bytes when its header declares more than ``max_pixels``.

    PNG's IHDR is read in the graph; other formats ask Pillow (one Python call
    per image, which PNGs must not pay).
    """

    def png() -> tf.Tensor:
        size = tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.int32, little_endian=False)
        return _blank_over(tf.reduce_prod(tf.cast(size, tf.int64)), data, max_pixels)

    def other() -> tf.Tensor:
        head = tf.strings.substr(data, 0, HEAD_BYTES)
        pixels = tf.numpy_function(declared_pixels, [head], tf.int64, stateful=False)
        return _blank_over(tf.reshape(pixels, []), data, max_pixels)

    return tf.cond(tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC), png, other)
