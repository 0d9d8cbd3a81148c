"""The loader trusts nothing behind a valid checksum (issue 14).

Files of every index type are mutated with the CRC recomputed, so what is exercised is the
loader's validation, not the checksum: header fields replaced, nudged, swapped, deleted or
added; array elements set to NaN/inf/extreme/duplicate values; random bytes; wrong sizes.
Every mutant must either raise :class:`vecpress.FormatError` or load into an index that
searches, adds and removes without error (tests/fuzz/vpfuzz.py ``exercise``). Seeded: a
failure names the case to rerun. The atheris harness (tests/fuzz/load_fuzzer.py) explores
further, coverage-guided, in CI.
"""
from __future__ import annotations

import json
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

import vecpress as vp

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
import vpfuzz  # noqa: E402

CASES_PER_MUTATOR = 1100  # x 4 mutators = 4,400 files (about 10 s on 2 cores)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_load")
    blobs = {}
    for name, idx in vpfuzz.build_indexes().items():
        idx.save(folder / f"{name}.vp")
        blobs[name] = (folder / f"{name}.vp").read_bytes()
    return folder, blobs


def outcome(path: Path, seed: int, mmap: bool) -> str:
    """"refused" (FormatError), "loaded" (and the index works), or what went wrong."""
    try:
        idx = vp.load(path, mmap=mmap)
    except vp.FormatError:
        return "refused"
    except Exception:  # noqa: BLE001 - the failure under test
        return "load raised " + traceback.format_exc(limit=-3)
    try:
        vpfuzz.exercise(idx, np.random.default_rng(seed))
    except Exception:  # noqa: BLE001
        return "the loaded index failed: " + traceback.format_exc(limit=-3)
    return "loaded"


@pytest.mark.parametrize("mutator", list(vpfuzz.MUTATORS))
def test_mutated_files_raise_format_error_or_work(saved, mutator):
    folder, blobs = saved
    names = sorted(blobs)
    path = folder / "mutant.vp"
    problems, loaded = [], 0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for case in range(CASES_PER_MUTATOR):
            seed = 1000 * case + list(vpfuzz.MUTATORS).index(mutator)
            name = names[case % len(names)]
            path.write_bytes(vpfuzz.MUTATORS[mutator](blobs[name], np.random.default_rng(seed)))
            result = outcome(path, seed, mmap=bool(case % 2))
            if result == "loaded":
                loaded += 1
            elif result != "refused":
                problems.append(f"{name} seed={seed}: {result}")
    print(f"{mutator}: {CASES_PER_MUTATOR} mutants, {loaded} loaded and worked, "
          f"{len(problems)} problems, {time.perf_counter() - start:.1f} s")
    assert not problems, f"{len(problems)} of {CASES_PER_MUTATOR}:\n" + "\n".join(problems[:5])


# ---- the cases issue 14 lists, each refused with a FormatError naming the field ---------------

def _edit(path: Path, out: Path, header=None, arrays=None) -> Path:
    """A copy of ``path`` with header(dict) and/or arrays(name -> np.ndarray view) edited in
    place by the given functions, laid out and checksummed as save() does."""
    blob = path.read_bytes()
    h, data = vpfuzz.split(blob)
    buf = bytearray(data)
    if arrays:
        views = {e["name"]: np.frombuffer(buf, e["dtype"], int(np.prod(e["shape"])),
                                          e["offset"]).reshape(e["shape"]) for e in h["arrays"]}
        arrays(views)
    if header:
        header(h)
        if isinstance(h.get("arrays"), list):  # the data section ends after the last array
            end = max((e["offset"] + e["nbytes"] for e in h["arrays"] if "nbytes" in e), default=0)
            buf = buf[: -(-end // vpfuzz.ALIGN) * vpfuzz.ALIGN]
    out.write_bytes(vpfuzz.join(json.dumps(h).encode(), bytes(buf)))
    return out


def _set(d, **kv):
    d["params"].update(kv)


def _vectors_row(name, value):
    def f(a):
        a[name][1, 0] = value
    return f


REFUSED = {  # name -> (index, header edit, arrays edit, text the FormatError must contain)
    "next_id_reused": ("flat_ip", lambda h: _set(h, next_id=5), None, "next_id"),
    "next_id_float": ("flat_ip", lambda h: _set(h, next_id=1e3), None, "next_id"),
    "next_id_missing": ("flat_ip", lambda h: h["params"].pop("next_id"), None, "next_id"),
    "duplicate_ids": ("flat_ip", None, lambda a: a["ids"].__setitem__(1, a["ids"][0]),
                      "duplicate"),
    "negative_id": ("flat_ip", None, lambda a: a["ids"].__setitem__(1, -5106240030550941379),
                    "negative"),
    "nan_vector": ("flat_ip", None, _vectors_row("vectors", np.nan), "NaN"),
    "huge_vector": ("flat_ip", None, _vectors_row("vectors", 1e30), "norm"),
    "cosine_not_unit": ("flat_cosine", None, _vectors_row("vectors", 2.0), "unit"),
    "beam_1e9": ("rq6_l2", lambda h: _set(h, beam=10**9), None, "beam"),
    "beam_str": ("rq6_l2", lambda h: _set(h, beam="8"), None, "beam"),
    "threads_2**31": ("flat_ip", lambda h: _set(h, threads=2**31), None, "threads"),
    "seed_-1": ("pq8_opq_rerank", lambda h: _set(h, seed=-1), None, "seed"),
    "rescore_2**31": ("pq4_odd_l2", lambda h: _set(h, rescore=2**31), None, "rescore"),
    "M_wrong": ("pq8_opq_rerank", lambda h: _set(h, M=8), None, "centroids"),
    "metric_list": ("flat_ip", lambda h: _set(h, metric=["ip"]), None, "metric"),
    "dims_not_increasing": ("matryoshka_l2", lambda h: _set(h, dims=[8, 4]), None, "dims"),
    "norm_range_reversed": ("rq6_l2", lambda h: _set(h, norm_range=[1.0, 0.5]), None,
                            "norm_range"),
    "norm_byte_out_of_range": ("rq6_l2", None, lambda a: a["codes"].__setitem__((0, -1), 32),
                               "codes"),
    "code_past_ksub": ("rq6_l2", None, lambda a: a["codes"].__setitem__((0, 0), 64), "codes"),
    "pq4_padding_nibble": ("pq4_odd_l2", None, lambda a: a["codes"].__setitem__((0, -1), 0x30),
                           "codes"),
    "binary_padding_bit": ("binary_hamming", None, lambda a: a["codes"].__setitem__((0, 1), 0xF0),
                           "codes"),
    "nan_codebook": ("rq6_l2", None, lambda a: a["codebooks"].__setitem__((0, 0, 0), np.nan),
                     "codebooks"),
    "nan_threshold": ("binary_float_pca_median", None,
                      lambda a: a["thresholds"].__setitem__(0, np.inf), "thresholds"),
    "rotation_not_orthogonal": ("pq8_opq_rerank", None,
                                lambda a: a["rotation"].__setitem__((0, 0), 3.0), "orthogonal"),
    "model_missing": ("pq8_opq_rerank", lambda h: _drop(h, "centroids"), None, "model"),
    "store_rows_short": ("pq8_opq_rerank", lambda h: _shrink(h, "vectors"), None,
                         "inconsistent"),
    "arrays_missing": ("flat_ip", lambda h: h.pop("arrays"), None, "arrays"),
    "class_list": ("flat_ip", lambda h: h.__setitem__("class", ["FlatIndex"]), None, "class"),
    "dtype_list": ("flat_ip", lambda h: h["arrays"][0].__setitem__("dtype", ["int64"]), None,
                   "dtype"),
    "entry_key_missing": ("flat_ip", lambda h: h["arrays"][0].pop("shape"), None, r"arrays\[0\]"),
    "overlapping_arrays": ("flat_ip", lambda h: h["arrays"][1].__setitem__("offset", 0), None,
                           "offset"),
}


def _drop(h, name):
    h["arrays"] = [e for e in h["arrays"] if e["name"] != name]


def _shrink(h, name):
    """Drop the last row of array ``name`` (the file stays well laid out)."""
    e = next(e for e in h["arrays"] if e["name"] == name)
    e["shape"][0] -= 1
    e["nbytes"] -= e["nbytes"] // (e["shape"][0] + 1)


@pytest.mark.parametrize("case", list(REFUSED))
def test_invalid_field_is_named(saved, tmp_path, case):
    folder, _ = saved
    name, header, arrays, text = REFUSED[case]
    path = _edit(folder / f"{name}.vp", tmp_path / "bad.vp", header, arrays)
    with pytest.raises(vp.FormatError, match=text):
        vp.load(path)


def test_checksum_is_checked_before_the_header_is_read(saved, tmp_path):
    """A bit flip in the header's JSON used to raise KeyError: now the CRC speaks first."""
    folder, blobs = saved
    blob = bytearray(blobs["flat_ip"])
    at = blob.index(b'"arrays"')
    blob[at + 1] ^= 0x20  # "Arrays": the header no longer has its "arrays" key
    (tmp_path / "flip.vp").write_bytes(bytes(blob))
    with pytest.raises(vp.FormatError, match="checksum"):
        vp.load(tmp_path / "flip.vp")
    (tmp_path / "fixed.vp").write_bytes(vpfuzz.fix_crc(bytes(blob)))
    with pytest.raises(vp.FormatError, match="arrays"):
        vp.load(tmp_path / "fixed.vp")


@pytest.mark.parametrize("text", [b'{"class": NaN}', b'{"class": 1e400}', b"[" * 100_000,
                                  b'{"class": "FlatIndex", "params": {}, "arrays": [], "x": "\xff"}'])
def test_header_json_that_python_accepts_is_refused(tmp_path, text):
    (tmp_path / "h.vp").write_bytes(vpfuzz.join(text, b""))
    with pytest.raises(vp.FormatError, match="header"):
        vp.load(tmp_path / "h.vp")


def test_valid_files_of_every_type_load_identically(saved, tmp_path):
    folder, blobs = saved
    rng = np.random.default_rng(0)
    for name in blobs:
        a, b = vp.load(folder / f"{name}.vp"), vp.load(folder / f"{name}.vp", mmap=True)
        if a.is_trained:
            q = rng.standard_normal((4, a.dim)).astype(np.float32)
            np.testing.assert_array_equal(a.search(q, 5)[1], b.search(q, 5)[1])
        vpfuzz.exercise(b, rng)
