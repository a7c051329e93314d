"""Hash64 round-trips imagehash's hex form and measures Hamming distance."""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from audit.hashes import Hash64, hamming, pack_bits


def test_hex_round_trip_with_imagehash(digits):
    image = Image.fromarray(digits[0][0])
    reference = imagehash.phash(image)
    ours = Hash64.from_bits(reference.hash)
    assert ours.hex() == str(reference)
    assert Hash64.from_hex(ours.hex()) == ours


def test_subtraction_is_hamming_distance(digits):
    a, b = (imagehash.dhash(Image.fromarray(digits[0][k])) for k in (0, 1))
    assert Hash64.from_hex(str(a)) - Hash64.from_hex(str(b)) == a - b


def test_vectorised_hamming_matches_scalar():
    rng = np.random.default_rng(0)
    bits = rng.random((50, 64)) > 0.5
    values = pack_bits(bits)
    other = pack_bits(~bits[::-1])
    expected = [Hash64(int(x)) - Hash64(int(y)) for x, y in zip(values, other, strict=True)]
    assert hamming(values, other).tolist() == expected
    assert pack_bits(np.ones((1, 64), bool))[0] == np.uint64(2**64 - 1)
