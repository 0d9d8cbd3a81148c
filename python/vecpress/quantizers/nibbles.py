"""Two 4-bit codes per byte: code 2j in the low nibble of byte j, code 2j + 1 in
the high nibble (a zero nibble pads an odd count)."""
from __future__ import annotations

import numpy as np

from ..errors import FormatError


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """4-bit codes (n, m) uint8 < 16 -> (n, ceil(m / 2)) uint8."""
    if codes.shape[1] % 2:
        codes = np.concatenate([codes, np.zeros((len(codes), 1), np.uint8)], axis=1)
    return np.ascontiguousarray(codes[:, 0::2] | (codes[:, 1::2] << 4))


def unpack_nibbles(packed: np.ndarray, m: int) -> np.ndarray:
    """Inverse of pack_nibbles: (n, ceil(m / 2)) uint8 -> (n, m) uint8."""
    out = np.empty((len(packed), 2 * packed.shape[1]), np.uint8)
    out[:, 0::2] = packed & 15
    out[:, 1::2] = packed >> 4
    return np.ascontiguousarray(out[:, :m])


def upgrade_unpaired(arrays, m: int, extra: int = 0):
    """Saved index arrays whose "codes" hold m 4-bit codes one per byte (then
    `extra` byte columns, e.g. a norm) -- the layout before codes were paired --
    with those codes packed; arrays in the paired layout come back unchanged."""
    codes = np.asarray(arrays["codes"])
    if m < 2 or codes.ndim != 2 or codes.shape[1] != m + extra:
        return arrays
    if codes.dtype != np.uint8 or (codes.size and codes[:, :m].max() >= 16):
        raise FormatError("4-bit codes array holds values >= 16")
    packed = np.concatenate([pack_nibbles(codes[:, :m]), codes[:, m:]], axis=1)
    return dict(arrays, codes=packed)


def pair_tables(tables: np.ndarray) -> np.ndarray:
    """Per-code tables (nq, m, 16) -> per-byte tables (nq, ceil(m / 2), 256) for
    pack_nibbles codes: entry a | b << 4 of byte j is tables[2j][a] + tables[2j+1][b],
    so a byte scan (one lookup per byte) sums both codes."""
    nq, m, _ = tables.shape
    if m % 2:
        tables = np.concatenate([tables, np.zeros((nq, 1, 16), tables.dtype)], axis=1)
    pairs = tables[:, 1::2, :, None] + tables[:, 0::2, None, :]  # [.., b, a]
    return np.ascontiguousarray(pairs.reshape(nq, -1, 256), dtype=np.float32)
