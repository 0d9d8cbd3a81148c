"""The vecpress file format: one file per index.

Layout (little-endian)::

    magic      8 bytes  b"VECPRESS"
    version    u32      FORMAT_VERSION
    flags      u32      0 (reserved)
    header_len u64
    header     JSON     {"class", "params", "arrays": [{name, dtype, shape, offset, nbytes}], "library"}
    ...        arrays, each starting at a 64-byte aligned offset (so they can be memory-mapped)
    trailer    16 bytes b"VPCHKSUM" + u32 crc32 of every byte before the trailer + u32 0

Saving writes a temporary file ``.NAME.XXXXXXXX.tmp`` in the same directory (locked
while written), fsyncs it, renames it over the target and fsyncs the directory, so a
failed or killed save never destroys an existing file; each save first removes the
unlocked temporary files that killed saves of the same target left behind.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FormatError, VersionError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

MAGIC = b"VECPRESS"
FORMAT_VERSION = 1
TRAILER_MAGIC = b"VPCHKSUM"
_PREFIX = struct.Struct("<8sIIQ")
_TRAILER = struct.Struct("<8sII")
_ALIGN = 64
_ALLOWED_DTYPES = {"float16", "float32", "float64", "int64", "int32", "uint8", "uint16", "uint32",
                   "bool"}
_ENTRY_KEYS = {"name", "dtype", "shape", "offset", "nbytes"}
_MAX_NDIM = 8


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
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:  # held until the rename: cleaners leave a live save alone
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
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
            if fcntl is not None:
                os.replace(tmp, path)
        if fcntl is None:  # (Windows cannot rename an open file)
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)  # the rename itself survives a power loss


def remove_stale_temps(path) -> int:
    """Delete the temporary files ``.NAME.XXXXXXXX.tmp`` that saves of ``path`` killed
    mid-write left behind (a live save holds a lock on its own, which is skipped).
    Returns how many were removed."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
    try:
        names = [n for n in os.listdir(path.parent) if pattern.fullmatch(n)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        stale = path.parent / name
        try:
            fd = os.open(stale, os.O_RDONLY)
        except OSError:
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: a save is writing it
            os.unlink(stale)
            removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform that cannot open directories (Windows): nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # unsupported here
            raise
    finally:
        os.close(fd)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a valid number here")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):  # 1e400 parses to inf
        raise ValueError(f"{text} is out of range")
    return v


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_prefix(path: Path) -> tuple[bytes, int, int]:
    """Check the fixed prefix; return (raw header bytes, data start, file size)."""
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
            if _PREFIX.size + hlen + _TRAILER.size > size:
                raise FormatError(f"{path} is truncated or corrupted (header length {hlen} "
                                  f"does not fit in {size} bytes)")
            raw = f.read(hlen)
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e}") from None
    return raw, _align(_PREFIX.size + hlen), size


def _parse_header(raw: bytes, path: Path, data_start: int) -> tuple[dict, int]:
    """The header JSON, every field checked (FormatError names the first bad one), and
    the offset where the arrays end (the trailer must start there)."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_no_constant,
                            parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"{path} has a corrupted header ({type(e).__name__}: "
                          f"{str(e)[:120]})") from None

    def bad(field: str, want: str, got: Any) -> FormatError:
        return FormatError(f"{path}: header field {field} must be {want}, got {str(got)[:80]!r}")

    if not isinstance(header, dict):
        raise bad("(top level)", "an object", type(header).__name__)
    for field, kind, want in (("class", str, "a string"), ("params", dict, "an object"),
                              ("arrays", list, "a list")):
        if not isinstance(header.get(field), kind):
            raise bad(field, want, header.get(field))
    if not isinstance(header.get("library", ""), str):
        raise bad("library", "a string", header["library"])
    names, end = set(), 0
    for i, e in enumerate(header["arrays"]):
        where = f"arrays[{i}]"
        if not isinstance(e, dict) or set(e) != _ENTRY_KEYS:
            raise bad(where, f"an object with keys {sorted(_ENTRY_KEYS)}", e)
        if not isinstance(e["name"], str) or not e["name"] or e["name"] in names:
            raise bad(f"{where}.name", "a unique non-empty string", e["name"])
        names.add(e["name"])
        where = f"arrays[{e['name']!r}]"
        if not isinstance(e["dtype"], str) or e["dtype"] not in _ALLOWED_DTYPES:
            raise bad(f"{where}.dtype", f"one of {sorted(_ALLOWED_DTYPES)}", e["dtype"])
        shape = e["shape"]
        if (not isinstance(shape, list) or len(shape) > _MAX_NDIM
                or not all(_is_int(s) and s >= 0 for s in shape)):
            raise bad(f"{where}.shape", f"a list of at most {_MAX_NDIM} non-negative integers",
                      shape)
        if not _is_int(e["offset"]) or e["offset"] < end or e["offset"] % _ALIGN:
            raise bad(f"{where}.offset", f"a multiple of {_ALIGN} after the previous array "
                      f"(>= {end})", e["offset"])
        nbytes = math.prod(shape) * np.dtype(e["dtype"]).itemsize
        if not _is_int(e["nbytes"]) or e["nbytes"] != nbytes:
            raise bad(f"{where}.nbytes", f"{nbytes} (its shape times its item size)", e["nbytes"])
        end = e["offset"] + nbytes
    return header, data_start + _align(end)


def read_header(path) -> tuple[dict, int, int]:
    """The fixed prefix and the header, each field checked (the checksum is not: see
    :func:`read_arrays`). Returns (header dict, data start, file size)."""
    path = Path(path)
    raw, data_start, size = _read_prefix(path)
    return _parse_header(raw, path, data_start)[0], data_start, size


def read_arrays(path, mmap: bool = False, verify: bool = True) -> tuple[str, dict, dict]:
    """Read a file written by :func:`write_arrays`: returns (class name, params, arrays).

    mmap=True maps the arrays read-only instead of loading them. verify=True checks
    the CRC32 of the whole file first (reads it once), before any header field is
    interpreted; then every header field and the layout are checked (arrays in order,
    64-byte aligned, inside the file). What the arrays hold is the index type's to check.
    """
    path = Path(path)
    raw, data_start, size = _read_prefix(path)
    end = size - _TRAILER.size
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
    header, arrays_end = _parse_header(raw, path, data_start)
    if arrays_end != end:
        raise FormatError(f"{path} is truncated or has trailing bytes "
                          f"(expected {arrays_end + _TRAILER.size} bytes, found {size})")
    arrays = {}
    try:
        for e in header["arrays"]:
            dt, shape = np.dtype(e["dtype"]), tuple(e["shape"])
            count, off = math.prod(shape), data_start + e["offset"]
            if mmap and count:
                arrays[e["name"]] = np.memmap(path, dtype=dt, mode="r", offset=off, shape=shape)
            else:
                arrays[e["name"]] = np.fromfile(path, dtype=dt, count=count, offset=off).reshape(shape)
    except (OSError, ValueError) as ex:
        raise FormatError(f"cannot read the arrays of {path}: {ex}") from None
    return header["class"], header["params"], arrays
