"""Decoding record payloads into images, inside tf.data.

JPEGs are decoded with libjpeg's accurate integer DCT, the same as Pillow, so
decoded pixels (and therefore hashes) agree with a PIL-based reference. Files
TF cannot decode raise inside the map; the profiler drops them with
``ignore_errors`` and names them afterwards with ``diagnose``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from pipelines.header import HEAD_BYTES, jpeg_within_limit, other_within_limit


def decode_bytes(data: tf.Tensor, max_pixels: int | None = None) -> tf.Tensor:
    """Decode PNG, JPEG, GIF (first frame), BMP or WebP bytes to uint8 HxWxC.

    With ``max_pixels``, an image whose header declares more pixels fails
    before it is decoded. One branch per image: every op in a tf.data map
    function, taken or not, costs each element a few microseconds.
    """

    def jpeg() -> tf.Tensor:
        ok = data if max_pixels is None else jpeg_within_limit(data, max_pixels)
        return tf.io.decode_jpeg(ok, channels=0, dct_method="INTEGER_ACCURATE")

    def other() -> tf.Tensor:
        ok = data if max_pixels is None else other_within_limit(data, max_pixels)
        return tf.io.decode_image(ok, channels=0, expand_animations=False)

    return tf.cond(tf.io.is_jpeg(data), jpeg, other)


def decode_payload(
    payload: tf.Tensor, kind: str, max_pixels: int | None = None
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The image a record payload (path, bytes or image) holds, its size in bytes, its head.

    The size is the encoded file or record size, -1 for decoded arrays; the
    head is the first ``HEAD_BYTES`` of the encoded image (empty for arrays).
    With ``max_pixels``, an image whose header declares more pixels fails
    before it is decoded.
    """
    if kind == "image":
        return payload, tf.constant(-1, tf.int64), tf.constant(b"")
    data = tf.io.read_file(payload) if kind == "path" else payload
    head = tf.strings.substr(data, 0, HEAD_BYTES)
    return decode_bytes(data, max_pixels), tf.cast(tf.strings.length(data), tf.int64), head


@dataclass(frozen=True)
class Diagnosis:
    """Why an image failed in tf.data, and its pixels if Pillow can read it anyway."""

    kind: str
    message: str
    image: np.ndarray | None = None


def diagnose_bytes(data: bytes, max_pixels: int) -> Diagnosis:
    """Classify encoded bytes that TF failed to decode, using Pillow.

    Kinds: ``empty_file``, ``not_an_image``, ``too_large``, ``truncated``,
    ``corrupt``; or ``ok`` with the pixels when Pillow reads what TF could not.
    """
    if not data:
        return Diagnosis("empty_file", "file is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > max_pixels:
                return Diagnosis(
                    "too_large",
                    f"{im.width}x{im.height} pixels exceeds the limit of {max_pixels} "
                    "(possible decompression bomb); not decoded",
                )
            im.load()
            return Diagnosis("ok", "decoded by Pillow", np.asarray(_pil_to_array(im)))
    except UnidentifiedImageError:
        return Diagnosis("not_an_image", "content is not a recognised image format")
    except Image.DecompressionBombError as exc:
        return Diagnosis("too_large", f"possible decompression bomb: {exc}")
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc)
        kind = "truncated" if "truncated" in text.lower() else "corrupt"
        return Diagnosis(kind, f"cannot decode: {text}")


def diagnose_path(path: Path, max_pixels: int) -> Diagnosis:
    """Classify a file that TF failed to read or decode."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Diagnosis("missing_file", "file not found")
    except IsADirectoryError:
        return Diagnosis("not_an_image", "is a directory")
    except OSError as exc:
        return Diagnosis("unreadable", f"cannot read: {exc.strerror or exc}")
    return diagnose_bytes(data, max_pixels)


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """Pillow image to a uint8 HxWxC array with the channel layout TF would give."""
    if im.mode in ("1", "I", "I;16", "F"):
        im = im.convert("L")
    elif im.mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    arr = np.asarray(im)
    return arr[..., None] if arr.ndim == 2 else arr
