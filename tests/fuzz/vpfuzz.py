"""Shared by the loader fuzz test (tests/test_fuzz_load.py) and the atheris harness
(tests/fuzz/load_fuzzer.py): the saved files of every index type, mutations that keep the
checksum valid (so the loader's checks, not the CRC, are what is exercised), and what a
file that loads must then do.

    PYTHONPATH=python python tests/fuzz/vpfuzz.py tests/fuzz/corpus   # rewrite the corpus
"""
from __future__ import annotations

import json
import math
import struct
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np

import vecpress as vp

PREFIX = struct.Struct("<8sIIQ")
TRAILER = struct.Struct("<8sII")
ALIGN = 64
DIM = 16


def _configs():
    return {
        "flat_ip": lambda: vp.FlatIndex(DIM, "ip"),
        "flat_cosine": lambda: vp.FlatIndex(DIM, "cosine"),
        "matryoshka_l2": lambda: vp.MatryoshkaIndex(DIM, "l2", dims=(4, DIM), rerank=(8,)),
        "matryoshka_pca_cosine": lambda: vp.MatryoshkaIndex(DIM, "cosine", dims=(4, 8, DIM),
                                                            rerank=(10, 6), rotation="pca"),
        "binary_hamming": lambda: vp.BinaryIndex(DIM, "ip", bits=12, rerank=0),
        "binary_float_pca_median": lambda: vp.BinaryIndex(DIM, "l2", threshold="median",
                                                          rotation="pca", query="float",
                                                          rerank=5),
        "pq8_opq_rerank": lambda: vp.PQIndex(DIM, "ip", M=4, nbits=8, rotation="opq", rerank=5,
                                             niter=2),
        "pq4_odd_l2": lambda: vp.PQIndex(DIM - 1, "l2", M=5, nbits=4, niter=2, rescore=8),
        "rq6_l2": lambda: vp.RQIndex(DIM, "l2", M=3, nbits=6, beam=2, norm_bits=5),
        "rq4_groups_cosine_rerank": lambda: vp.RQIndex(DIM, "cosine", M=3, nbits=4, beam=2,
                                                       groups=2, rerank=4),
        "pq8_empty_untrained": lambda: vp.PQIndex(DIM, "ip", M=4, nbits=8),
    }


def build_indexes(n: int = 300, seed: int = 0) -> dict:
    """Small indexes of every type (trained where they learn a model), some ids removed."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, make in _configs().items():
        idx = make()
        x = rng.standard_normal((max(n, 300), idx.dim)).astype(np.float32)
        if name.endswith("untrained"):
            out[name] = idx
            continue
        if not idx.is_trained:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                idx.train(x)  # 8-bit codebooks need >= 256 rows
        x = x[:n]
        idx.add(x[: n // 2], ids=rng.choice(10 * n, n // 2, replace=False))
        idx.add(x[n // 2:])
        idx.remove(idx.ids[3:9])
        out[name] = idx
    return out


def write_corpus(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, idx in build_indexes(n=40).items():
        idx.save(folder / f"{name}.vp")
        paths.append(folder / f"{name}.vp")
    return paths


# ---- the file format, as far as mutations need it ----------------------------------------

def split(blob: bytes) -> tuple[dict, bytes]:
    """(header dict, data section) of a valid file."""
    _, _, _, hlen = PREFIX.unpack_from(blob)
    start = -(-(PREFIX.size + hlen) // ALIGN) * ALIGN
    return json.loads(blob[PREFIX.size:PREFIX.size + hlen]), blob[start:len(blob) - TRAILER.size]


def with_crc(body: bytes) -> bytes:
    """body (everything before the trailer) plus a trailer with its correct CRC."""
    return body + TRAILER.pack(b"VPCHKSUM", zlib.crc32(body) & 0xFFFFFFFF, 0)


def fix_crc(blob: bytes) -> bytes:
    """blob with its trailer's CRC recomputed (bytes too short to hold one are kept)."""
    return with_crc(blob[:-TRAILER.size]) if len(blob) >= TRAILER.size else blob


def join(header_text: bytes, data: bytes, magic: bytes = b"VECPRESS", version: int = 1) -> bytes:
    """A file of this header text and data section, laid out and checksummed as save() does."""
    head = PREFIX.pack(magic, version, 0, len(header_text)) + header_text
    pad = -len(head) % ALIGN
    return with_crc(head + b"\0" * pad + data)


# ---- mutations ------------------------------------------------------------------------------

NASTY = [0, 1, -1, 2, 3, 5, 7, 8, 15, 16, 17, 255, 256, 4096, 4097, 2**20, 2**20 + 1, 2**31 - 1,
         2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64, -2**63, 10**30, 0.5, 1.0, -1.5, 1e300,
         -1e-300, "", "x", "ip", "l2", "cosine", "pca", "opq", "zero", "median", "float",
         None, True, False, [], [0], [1, 2], [2, 1], [0, 0], [1e300, 1e301], [-1, 0], {},
         {"a": 1}, "\u00e9\u0000"]


def _paths(obj, prefix=()):
    """Every (container, key) path in a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def mutate_header(blob: bytes, rng: np.random.Generator) -> bytes:
    """One header edit (a value replaced, nudged, swapped, deleted or added), checksum fixed."""
    header, data = split(blob)
    paths = list(_paths(header))
    path = paths[rng.integers(len(paths))]
    parent, key = _get(header, path[:-1]), path[-1]
    old = parent[key]
    op = rng.integers(6)
    if op == 0:
        new = NASTY[rng.integers(len(NASTY))]
    elif op == 1 and isinstance(old, (int, float)) and not isinstance(old, bool):
        new = old + int(rng.choice([-64, -8, -1, 1, 8, 64]))
    elif op == 2 and isinstance(old, (int, float)) and not isinstance(old, bool):
        new = old * int(rng.choice([-1, 2, 3, 1000])) if old else 1
    elif op == 3:  # another field's value
        new = json.loads(json.dumps(_get(header, paths[rng.integers(len(paths))])))
    elif op == 4 and isinstance(parent, dict):
        del parent[key]
        return join(json.dumps(header).encode(), data)
    elif op == 5 and isinstance(parent, dict):
        parent[f"extra{rng.integers(3)}"] = NASTY[rng.integers(len(NASTY))]
        new = old
    else:
        new = NASTY[rng.integers(len(NASTY))]
    parent[key] = new
    return join(json.dumps(header).encode(), data)


_FLOATS = [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e30, 1e19, 1e-45, -0.0, 0.0, 1.0, 2.0]


def mutate_array(blob: bytes, rng: np.random.Generator) -> bytes:
    """One array edited in place (elements set to extreme, duplicate or random values)."""
    header, data = split(blob)
    entries = [e for e in header["arrays"] if e["nbytes"]]
    if not entries:
        return mutate_bytes(blob, rng)
    e = entries[rng.integers(len(entries))]
    buf = bytearray(data)
    a = np.frombuffer(buf, dtype=e["dtype"], count=math.prod(e["shape"]), offset=e["offset"])
    a.flags.writeable = True
    n = int(rng.integers(1, 4))
    at = rng.integers(a.size, size=n)
    if a.dtype.kind == "b":
        a[at] = ~a[at]
    elif a.dtype.kind == "f":
        a[at] = [_FLOATS[i] for i in rng.integers(len(_FLOATS), size=n)]
    elif rng.random() < 0.3 and a.size > 1:
        a[at] = a[rng.integers(a.size, size=n)]  # duplicates (ids) or other valid codes
    else:
        info = np.iinfo(a.dtype)
        pool = [info.min, info.max, 0, 1, -1 if info.min < 0 else 16, 15, 16, 31, 32, 64, 128]
        a[at] = np.array([pool[i] for i in rng.integers(len(pool), size=n)]).astype(a.dtype)
    return join(blob[PREFIX.size:PREFIX.size + PREFIX.unpack_from(blob)[3]], bytes(buf))


def mutate_bytes(blob: bytes, rng: np.random.Generator) -> bytes:
    """Random bit flips or byte overwrites anywhere before the trailer, checksum fixed."""
    buf = bytearray(blob[:-TRAILER.size])
    for _ in range(int(rng.integers(1, 5))):
        i = int(rng.integers(len(buf)))
        if rng.random() < 0.5:
            buf[i] ^= 1 << int(rng.integers(8))
        else:
            buf[i] = int(rng.integers(256))
    return with_crc(bytes(buf))


def mutate_size(blob: bytes, rng: np.random.Generator) -> bytes:
    """Truncated or extended (checksum fixed over what is left, so the layout check fires)."""
    body = blob[:-TRAILER.size]
    cut = int(rng.integers(len(body) + ALIGN)) - ALIGN // 2
    body = body[:cut] if cut < len(body) else body + bytes(cut - len(body))
    return with_crc(body)


MUTATORS = {"header": mutate_header, "array": mutate_array, "bytes": mutate_bytes,
            "size": mutate_size}


# ---- what a file that loads must do ----------------------------------------------------------

def exercise(idx, rng: np.random.Generator) -> None:
    """Search (k below and above len), then add, search and remove: the loaded index must do
    all of it without error, returning only stored ids and no NaN scores."""
    n = len(idx)
    q = rng.standard_normal((3, idx.dim)).astype(np.float32)
    if not idx.is_trained:  # only an empty index may come without its model
        assert n == 0, "an untrained index holds vectors"
        try:
            idx.search(q, 1)
        except vp.NotTrainedError:
            return
        raise AssertionError("an untrained index searched")
    stored = set(idx.ids.tolist())
    for k in (1, n + 3):
        scores, ids = idx.search(q, k)
        found = ids >= 0
        assert set(ids[found].tolist()) <= stored, "search returned ids that are not stored"
        assert not np.isnan(scores).any(), "search returned NaN scores"
        assert (found.sum(1) == min(k, n)).all(), "search did not return min(k, len) results"
    try:
        new = idx.add(q[:1])
    except vp.ParameterError as e:  # next_id may legitimately be 2**63: ids have run out
        assert "auto ids" in str(e) and idx._next_id > 2**63 - 2, e
        new = idx.add(q[:1], ids=[min(set(range(n + 1)) - stored)])
    assert new[0] not in stored, "an auto id repeats a stored id"
    assert len(idx) == n + 1 and idx.search(q, 2)[1].shape == (3, 2)
    assert idx.remove(new) == 1 and len(idx) == n


if __name__ == "__main__":
    for p in write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "corpus")):
        print(p, p.stat().st_size)
