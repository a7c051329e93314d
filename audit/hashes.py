"""Hash64: a 64-bit image hash as a small value type.

The table stores hashes as unsigned 64-bit integers; this type converts at the
edges. Bit order follows imagehash: the first hash bit is the most significant,
so ``Hash64(v).hex()`` equals ``str(imagehash.phash(img))`` for equal bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, order=True)
class Hash64:
    """An unsigned 64-bit hash; ``a - b`` is the Hamming distance."""

    value: int

    def __post_init__(self) -> None:
        """Keep the value in the unsigned 64-bit range."""
        if not 0 <= int(self.value) < 2**64:
            raise ValueError(f"not a 64-bit hash: {self.value}")

    def __sub__(self, other: Hash64) -> int:
        """Hamming distance between two hashes."""
        return (int(self.value) ^ int(other.value)).bit_count()

    def hex(self) -> str:
        """Sixteen lowercase hex digits, imagehash's string form."""
        return f"{int(self.value):016x}"

    @classmethod
    def from_hex(cls, text: str) -> Hash64:
        """Parse imagehash's hex form."""
        return cls(int(text, 16))

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> Hash64:
        """Build from 64 booleans, first bit most significant (imagehash's order)."""
        return cls(int(pack_bits(np.asarray(bits, dtype=bool).reshape(1, 64))[0]))


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack an (N, 64) boolean array into N uint64 values, first bit most significant."""
    packed = np.packbits(bits.reshape(len(bits), 64), axis=1, bitorder="big")
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance between two uint64 arrays."""
    return np.bitwise_count(np.bitwise_xor(a.astype(np.uint64), b.astype(np.uint64)))
