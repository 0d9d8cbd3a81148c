"""The vecpress file format: one file per index.

Layout (little-endian)::

    magic      8 bytes  b"VECPRESS"
    version    u32      FORMAT_VERSION
    flags      u32      0 (reserved)
    header_len u64
    header     JSON     {"class", "params", "arrays": [{name, dtype, shape, offset, nbytes}], "library"}
    ...        arrays, each starting at a 64-byte aligned offset (so they can be memory-mapped)
    trailer    16 bytes b"VPCHKSUM" + u32 crc32 of every byte before the trailer + u32 0

Saving writes a temporary file in the same directory, fsyncs it and renames it
over the target, so a failed save never destroys an existing file.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .errors import FormatError, VersionError

MAGIC = b"VECPRESS"
FORMAT_VERSION = 1
TRAILER_MAGIC = b"VPCHKSUM"
_PREFIX = struct.Struct("<8sIIQ")
_TRAILER = struct.Struct("<8sII")
_ALIGN = 64
_ALLOWED_DTYPES = {"float16", "float32", "float64", "int64", "int32", "uint8", "uint16", "uint32",
                   "bool"}


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def write_arrays(path, kind: str, params: dict, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``arrays`` and JSON-able ``params`` under class name ``kind``."""
    from ._version import __version__

    path = Path(path)
    entries, offset = [], 0
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    for name, a in arrays.items():
        if a.dtype.name not in _ALLOWED_DTYPES:
            raise TypeError(f"cannot store array {name!r} of dtype {a.dtype}")
        entries.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape),
                        "offset": offset, "nbytes": int(a.nbytes)})
        offset = _align(offset + a.nbytes)
    header = json.dumps({"class": kind, "params": params, "arrays": entries,
                         "library": f"vecpress {__version__}"}).encode()
    data_start = _align(_PREFIX.size + len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            crc = 0

            def put(b: bytes | memoryview) -> None:
                nonlocal crc
                f.write(b)
                crc = zlib.crc32(b, crc)

            put(_PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header)) + header)
            put(b"\0" * (data_start - _PREFIX.size - len(header)))
            pos = 0
            for e, a in zip(entries, arrays.values()):
                put(b"\0" * (e["offset"] - pos))
                put(memoryview(a.reshape(-1).view(np.uint8)) if a.size else b"")
                pos = e["offset"] + e["nbytes"]
            put(b"\0" * (_align(pos) - pos) if entries else b"")
            f.write(_TRAILER.pack(TRAILER_MAGIC, crc & 0xFFFFFFFF, 0))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_header(path) -> tuple[dict, int, int]:
    """Validate the fixed prefix and return (header dict, data start, file size)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size:
                raise FormatError(f"{path} is too short to be a vecpress index ({size} bytes)")
            magic, version, _flags, hlen = _PREFIX.unpack(prefix)
            if magic != MAGIC:
                raise FormatError(f"{path} is not a vecpress index (bad magic {magic[:8]!r})")
            if version != FORMAT_VERSION:
                raise VersionError(
                    f"{path} uses vecpress format version {version}; this vecpress reads version "
                    f"{FORMAT_VERSION}. Re-save it with a matching vecpress, or upgrade vecpress.")
            if hlen > size:
                raise FormatError(f"{path} is truncated or corrupted (header length {hlen} > file size)")
            raw = f.read(hlen)
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e}") from None
    try:
        header = json.loads(raw.decode())
        assert isinstance(header, dict) and "class" in header and "arrays" in header
    except Exception:
        raise FormatError(f"{path} has a corrupted header") from None
    return header, _align(_PREFIX.size + hlen), size


def read_arrays(path, mmap: bool = False, verify: bool = True) -> tuple[str, dict, dict]:
    """Read a file written by :func:`write_arrays`: returns (class name, params, arrays).

    mmap=True maps the arrays read-only instead of loading them. verify=True
    checks the CRC32 of the whole file first (reads it once).
    """
    path = Path(path)
    header, data_start, size = read_header(path)
    entries = header["arrays"]
    end = data_start + (_align(max((e["offset"] + e["nbytes"] for e in entries), default=0)))
    if size != end + _TRAILER.size:
        raise FormatError(f"{path} is truncated or has trailing bytes "
                          f"(expected {end + _TRAILER.size} bytes, found {size})")
    with open(path, "rb") as f:
        f.seek(end)
        tmagic, crc_stored, _ = _TRAILER.unpack(f.read(_TRAILER.size))
        if tmagic != TRAILER_MAGIC:
            raise FormatError(f"{path} is truncated or corrupted (no checksum trailer)")
        if verify:
            f.seek(0)
            crc, left = 0, end
            while left:
                chunk = f.read(min(left, 1 << 24))
                if not chunk:
                    raise FormatError(f"{path} is truncated")
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
            if crc & 0xFFFFFFFF != crc_stored:
                raise FormatError(f"{path} is corrupted (checksum mismatch); restore it from a backup")
    arrays = {}
    try:
        for e in entries:
            if e["dtype"] not in _ALLOWED_DTYPES:
                raise FormatError(f"{path}: array {e['name']!r} has unsupported dtype {e['dtype']}")
            dt, shape = np.dtype(e["dtype"]), tuple(int(s) for s in e["shape"])
            count = int(np.prod(shape)) if shape else 1
            if count * dt.itemsize != e["nbytes"] or e["offset"] < 0:
                raise FormatError(f"{path}: array {e['name']!r} has an inconsistent size")
            off = data_start + e["offset"]
            if mmap and count:
                arrays[e["name"]] = np.memmap(path, dtype=dt, mode="r", offset=off, shape=shape)
            else:
                arrays[e["name"]] = np.fromfile(path, dtype=dt, count=count, offset=off).reshape(shape)
    except FormatError:
        raise
    except Exception as ex:
        raise FormatError(f"{path} is corrupted: {ex}") from None
    return header["class"], header.get("params", {}), arrays
