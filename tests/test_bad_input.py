"""The bad-input matrix (issue 10; issue 14 extends it).

Every public index type and quantizer goes through the same wrong inputs:
wrong dtype, dimension and ndim, NaN/inf, empty, bad k, bad ids, bad per-call
and constructor parameters. Each rejected call must raise the documented
exception, which is a :class:`vecpress.VecpressError` and the matching builtin
(so ``except ValueError`` keeps working), and must leave the index exactly as
it was: same ``len``, same ``ids``, same results for a fixed search and the
same bytes when saved. Quantizers must keep their codebooks. Inputs that are
valid but unusual (non-contiguous, Fortran order, read-only, float16/float64,
lists) must be accepted and give exactly what the contiguous float32 copy gives.

The error contract (vecpress.errors): DTypeError for unacceptable dtypes (int,
bool, complex, object, str vectors; float ids; non-uint8 codes); ShapeError for
wrong ndim or row counts, DimensionError for a wrong number of columns;
EmptyInputError for zero vectors; NonFiniteError for NaN/inf; DuplicateIdError;
UnknownIdError (remove); NotTrainedError; ParameterError for a bad parameter
value and ParameterTypeError for a parameter of the wrong type.

Data: the bundled sample cut to 1,000 x 64 (the first 64 MiniLM dimensions),
so that every index trains in well under a second. Each test works on a fresh
copy of an index built once per module (``vecpress.load`` of a saved file), so
a call that wrongly changes an index cannot leak into other cases.
"""
from __future__ import annotations

import copy
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import vecpress as vp
from vecpress import (
    DimensionError,
    DTypeError,
    DuplicateIdError,
    EmptyInputError,
    NonFiniteError,
    NotTrainedError,
    ParameterError,
    ParameterTypeError,
    ShapeError,
    UnknownIdError,
    VecpressError,
)
from vecpress.datasets import load_sample

D = 64          # vector dimension of every index and quantizer here
N_BASE = 1000   # vectors in each built index (also its training set)
N_ADD = 6       # rows of the batches given to add()
K = 5           # k of the searches under test
SNAP_K = 10     # k of the fixed search that fingerprints an index

# The builtins each contract exception must also be (checked on every raise).
BUILTINS = {
    DTypeError: (TypeError,), ShapeError: (ValueError,), DimensionError: (ValueError,),
    EmptyInputError: (ValueError,), NonFiniteError: (ValueError,),
    DuplicateIdError: (ValueError,), UnknownIdError: (KeyError,),
    NotTrainedError: (RuntimeError,), ParameterError: (ValueError,),
    ParameterTypeError: (ValueError, TypeError),
}

# ---- the types under test ---------------------------------------------------------------------

INDEXES = {
    "flat": ("FlatIndex", dict(metric="ip")),
    "flat_cosine": ("FlatIndex", dict(metric="cosine")),
    "matryoshka": ("MatryoshkaIndex", dict(metric="ip", dims=(D // 4, D), rerank=(50,))),
    "matryoshka_pca": ("MatryoshkaIndex",
                       dict(metric="cosine", dims=(D // 4, D), rerank=(50,), rotation="pca")),
    "binary": ("BinaryIndex", dict(metric="ip", rerank=50)),
    # median thresholds so that one binary index needs training
    "binary_float": ("BinaryIndex",
                     dict(metric="l2", rerank=50, query="float", threshold="median")),
    "pq8": ("PQIndex", dict(metric="ip", M=16, nbits=8, rerank=50)),
    "pq4": ("PQIndex", dict(metric="l2", M=16, nbits=4, rerank=50)),
    "rq": ("RQIndex", dict(metric="l2", M=4, nbits=8, beam=2, rerank=50)),
    "rq_groups": ("RQIndex", dict(metric="ip", M=4, nbits=8, beam=2, rerank=50, groups=2)),
}
KINDS = list(INDEXES)
TRAINABLE = ["matryoshka_pca", "binary_float", "pq8", "pq4", "rq", "rq_groups"]
CODED = ["binary", "binary_float", "pq8", "pq4", "rq", "rq_groups"]  # scalar per-call rerank
MATRYOSHKA = ["matryoshka", "matryoshka_pca"]                       # per-stage rerank tuple


def make(kind, dim=D, **over):
    cls, kw = INDEXES[kind]
    return getattr(vp, cls)(dim, **{**kw, **over})


QUANTIZERS = {
    "pq": ("ProductQuantizer", dict(dim=D, M=16, nbits=8)),
    "rq": ("ResidualQuantizer", dict(dim=D, M=4, nbits=8, beam=2)),
    "group_rq": ("GroupResidualQuantizer", dict(dim=D, groups=2, M=4, nbits=8, beam=2)),
    "binary": ("BinaryQuantizer", dict(dim=D, bits=None, threshold="median")),
}
_NO_BQ = pytest.mark.skipif(not hasattr(vp, "BinaryQuantizer"),
                            reason="vecpress.BinaryQuantizer is not in this version yet")


def qparams(*rest):
    """Quantizer names (times rest), the binary quantizer skipped while it does not exist."""
    out = []
    for name in QUANTIZERS:
        marks = [_NO_BQ] if name == "binary" else []
        for r in rest or [()]:
            r = r if isinstance(r, tuple) else (r,)
            out.append(pytest.param(name, *r, marks=marks, id="-".join(map(str, (name, *r)))))
    return out


def make_quantizer(name, **over):
    cls, kw = QUANTIZERS[name]
    return getattr(vp, cls)(**{**kw, **over})


def train(obj, x):
    # Training 256-centroid codebooks on 1,000 points may warn that more are needed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return obj.train(x)


# ---- checking helpers -------------------------------------------------------------------------

def _name(e: BaseException) -> str:
    msg = str(e).replace("\n", " ")
    return f"{type(e).__module__}.{type(e).__qualname__}: {msg[:160]}"


def raise_problem(exc, fn, *args, **kwargs) -> str | None:
    """Call fn; None if it raised ``exc`` as the contract says, else what went wrong."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        if not isinstance(e, VecpressError):
            return f"{_name(e)} is not a VecpressError"
        for b in BUILTINS[exc]:
            if not isinstance(e, b):
                return f"{_name(e)} is not a {b.__name__}"
        if not str(e):
            return f"{type(e).__name__} has no message"
        return None
    except Exception as e:  # noqa: BLE001 - reported as the actual exception
        return f"expected {exc.__name__}, got {_name(e)}"
    return f"expected {exc.__name__}, nothing was raised"


def expect(exc, fn, *args, **kwargs) -> None:
    problem = raise_problem(exc, fn, *args, **kwargs)
    if problem:
        pytest.fail(problem, pytrace=False)


class Lab:
    """Builds each index kind once, hands out fresh copies, fingerprints indexes."""

    def __init__(self, data, tmp):
        self.data, self.tmp = data, tmp
        self._built: dict[str, object] = {}
        self._trained_bytes: dict[str, bytes] = {}

    def built(self, kind):
        """A fresh copy of ``kind`` trained on and holding data.base (ids 0..N_BASE-1)."""
        if kind not in self._built:
            idx = make(kind)
            if not idx.is_trained:
                train(idx, self.data.base)
            idx.add(self.data.base)
            path = self.tmp / f"{kind}.vpi"
            idx.save(path)
            self._built[kind] = path
        return vp.load(self._built[kind])

    def saved(self, index) -> bytes:
        path = self.tmp / "snapshot.vpi"
        index.save(path)
        return path.read_bytes()

    def trained_bytes(self, kind) -> bytes:
        """Saved bytes of an empty ``kind`` trained on data.base."""
        if kind not in self._trained_bytes:
            idx = make(kind)
            train(idx, self.data.base)
            self._trained_bytes[kind] = self.saved(idx)
        return self._trained_bytes[kind]

    def snap(self, index):
        scores, ids = index.search(self.data.queries, SNAP_K)
        return SimpleNamespace(n=len(index), ids=np.array(index.ids), scores=scores, found=ids,
                               blob=self.saved(index))

    def changes(self, index, before) -> str | None:
        try:
            after = self.snap(index)
        except Exception as e:  # noqa: BLE001
            return f"the index no longer searches or saves: {_name(e)}"
        out = []
        if after.n != before.n:
            out.append(f"len {before.n} -> {after.n}")
        if not np.array_equal(after.ids, before.ids):
            out.append("ids changed")
        if not (np.array_equal(after.found, before.found)
                and np.array_equal(after.scores, before.scores)):
            out.append("search results changed")
        if after.blob != before.blob:
            out.append("saved file changed")
        return "index changed: " + ", ".join(out) if out else None

    def rejects_unchanged(self, index, exc, fn, *args, **kwargs) -> None:
        """fn(*args) must raise exc and leave index as it was."""
        before = self.snap(index)
        problems = [raise_problem(exc, fn, *args, **kwargs), self.changes(index, before)]
        problems = [p for p in problems if p]
        if problems:
            pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def data():
    s = load_sample()
    base = np.ascontiguousarray(s.base[: N_BASE + 40, :D])
    return SimpleNamespace(base=base[:N_BASE], extra=base[N_BASE: N_BASE + 20],
                           queries=np.ascontiguousarray(s.queries[:8, :D]))


@pytest.fixture(scope="module")
def lab(data, tmp_path_factory):
    return Lab(data, tmp_path_factory.mktemp("bad_input"))


# ---- the input matrix: bad arrays and accepted variants --------------------------------------

def _with(x, value):
    x = x.copy()
    x[1, 3] = value
    return x


def _ragged(x):
    rows = [r.tolist() for r in x[:3]]
    rows[-1] = rows[-1][:-1]
    return rows


BAD_ARRAYS = {  # name -> (make(x) -> bad input, expected exception)
    "int32": (lambda x: (x * 100).astype(np.int32), DTypeError),
    "bool": (lambda x: x > 0, DTypeError),
    "complex": (lambda x: x.astype(np.complex64), DTypeError),
    "object": (lambda x: x.astype(object), DTypeError),
    "str": (lambda x: x.astype(str), DTypeError),
    "list_of_str": (lambda x: [["a"] * x.shape[1] for _ in range(x.shape[0])], DTypeError),
    "ragged_list": (_ragged, ShapeError),
    "dim_plus_1": (lambda x: np.concatenate([x, x[:, :1]], axis=1), DimensionError),
    "dim_minus_1": (lambda x: np.ascontiguousarray(x[:, :-1]), DimensionError),
    "1d_wrong_dim": (lambda x: np.ascontiguousarray(x[0, :-1]), DimensionError),
    "3d": (lambda x: x[:, None, :], ShapeError),
    "scalar": (lambda x: np.float32(1.0), ShapeError),
    "nan": (lambda x: _with(x, np.nan), NonFiniteError),
    "posinf": (lambda x: _with(x, np.inf), NonFiniteError),
    "neginf": (lambda x: _with(x, -np.inf), NonFiniteError),
    "empty": (lambda x: np.empty((0, x.shape[1]), np.float32), EmptyInputError),
}


def _wide_slice(x):
    w = np.concatenate([x, np.ones_like(x)], axis=1)
    return w[:, : x.shape[1]]


def _col_step(x):
    w = np.ones((x.shape[0], 2 * x.shape[1]), np.float32)
    w[:, ::2] = x
    return w[:, ::2]


def _row_step(x):
    w = np.ones((2 * x.shape[0], x.shape[1]), np.float32)
    w[::2] = x
    return w[::2]


def _readonly(x):
    x = x.copy()
    x.flags.writeable = False
    return x


ACCEPTED = {  # name -> make(x) -> (unusual but valid input, the float32 C-contiguous equivalent)
    "fortran": lambda x: (np.asfortranarray(x), x),
    "wide_slice": lambda x: (_wide_slice(x), x),
    "col_step": lambda x: (_col_step(x), x),
    "row_step": lambda x: (_row_step(x), x),
    "half_rows": lambda x: (x[::2], np.ascontiguousarray(x[::2])),
    "readonly": lambda x: (_readonly(x), x),
    "float64": lambda x: (x.astype(np.float64), x),
    "float16": lambda x: (x.astype(np.float16), x.astype(np.float16).astype(np.float32)),
    "list": lambda x: (x.tolist(), x),
    "1d": lambda x: (np.array(x[0]), x[:1]),
}
ACCEPTED_TRAIN = [a for a in ACCEPTED if a != "1d"]  # one row is too few to train on


def _input(lab, op):
    return {"add": lab.data.extra[:N_ADD], "search": lab.data.queries,
            "train": lab.data.base}[op]


# ---- indexes: vectors, queries, training data ------------------------------------------------

INDEX_OPS = [(k, op) for k in KINDS for op in ("add", "search")] + [(k, "train") for k in TRAINABLE]


@pytest.mark.parametrize("case", list(BAD_ARRAYS))
@pytest.mark.parametrize("kind,op", INDEX_OPS)
def test_index_rejects_bad_array(lab, kind, op, case):
    make_bad, exc = BAD_ARRAYS[case]
    bad = make_bad(_input(lab, op))
    if op == "train":  # an untrained index: it must stay untrained and empty
        idx = make(kind)
        problem = raise_problem(exc, train, idx, bad)
        if not problem and (idx.is_trained or len(idx)):
            problem = "a failed train() left the index trained or non-empty"
        if problem:
            pytest.fail(problem, pytrace=False)
        return
    idx = lab.built(kind)
    if op == "add":
        lab.rejects_unchanged(idx, exc, idx.add, bad)
    else:
        lab.rejects_unchanged(idx, exc, idx.search, bad, K)


@pytest.mark.parametrize("kind,op,case", [
    pytest.param(k, op, c, id=f"{k}-{op}-{c}")
    for k, op in INDEX_OPS for c in (ACCEPTED_TRAIN if op == "train" else ACCEPTED)])
def test_index_accepts_array_variant(lab, kind, op, case):
    given, same = ACCEPTED[case](_input(lab, op))
    if op == "search":
        idx = lab.built(kind)
        got = idx.search(given, K)
        want = idx.search(same, K)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
    elif op == "add":
        a, b = lab.built(kind), lab.built(kind)
        np.testing.assert_array_equal(a.add(given), b.add(same))
        assert lab.saved(a) == lab.saved(b), "adding the variant stored something else"
    else:
        a = make(kind)
        train(a, given)
        if case in ("float16", "half_rows"):
            b = make(kind)
            train(b, same)
            want = lab.saved(b)
        else:
            want = lab.trained_bytes(kind)
        assert lab.saved(a) == want, "training on the variant learned something else"


@pytest.mark.parametrize("op", ["add", "search"])
@pytest.mark.parametrize("kind", TRAINABLE)
def test_untrained_index(lab, kind, op):
    idx = make(kind)
    assert not idx.is_trained
    x = _input(lab, op)
    if op == "add":
        expect(NotTrainedError, idx.add, x)
    else:
        expect(NotTrainedError, idx.search, x, K)
    assert len(idx) == 0 and not idx.is_trained


# ---- k --------------------------------------------------------------------------------------

BAD_K = {"0": (0, ParameterError), "-1": (-1, ParameterError),
         "1.5": (1.5, ParameterTypeError), "str_3": ("3", ParameterTypeError),
         "True": (True, ParameterTypeError), "None": (None, ParameterTypeError),
         "float_3.0": (3.0, ParameterTypeError),
         # padded past len(index) to 8 x 10**12 entries: refused before anything is allocated
         "10**12": (10**12, ParameterError)}


@pytest.mark.parametrize("case", list(BAD_K))
@pytest.mark.parametrize("kind", KINDS)
def test_bad_k(lab, kind, case):
    k, exc = BAD_K[case]
    idx = lab.built(kind)
    lab.rejects_unchanged(idx, exc, idx.search, lab.data.queries, k)


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_integer_k(lab, kind):
    idx = lab.built(kind)
    got, want = idx.search(lab.data.queries, np.int64(3)), idx.search(lab.data.queries, 3)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def check_padded(idx, scores, ids, k):
    n = len(idx)
    assert ids.shape == scores.shape == (ids.shape[0], k)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    worst = np.inf if idx.metric == "l2" else -np.inf
    np.testing.assert_array_equal(ids[:, n:], -1)
    np.testing.assert_array_equal(scores[:, n:], worst)
    assert np.isfinite(scores[:, :n]).all()
    stored = np.sort(idx.ids)
    for row in ids[:, :n]:
        np.testing.assert_array_equal(np.sort(row), stored)  # every stored vector, once


@pytest.mark.parametrize("kind", KINDS)
def test_k_larger_than_index(lab, kind):
    idx = lab.built(kind)
    before = lab.snap(idx)
    k = N_BASE + 7
    scores, ids = idx.search(lab.data.queries, k)
    check_padded(idx, scores, ids, k)
    problem = lab.changes(idx, before)
    assert not problem, problem


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
@pytest.mark.parametrize("kind", KINDS)
def test_padding_of_small_index(lab, kind, metric):
    idx = make(kind, metric=metric)
    if not idx.is_trained:
        train(idx, lab.data.base)
    idx.add(lab.data.extra[:5], ids=np.array([11, 22, 33, 44, 55]))
    scores, ids = idx.search(lab.data.queries, 8)
    check_padded(idx, scores, ids, 8)


# ---- ids ------------------------------------------------------------------------------------

_NEW = np.arange(5000, 5000 + N_ADD, dtype=np.int64)
BAD_ADD_IDS = {
    "negative": (np.r_[-1, _NEW[1:]], ParameterError),
    "float": (_NEW.astype(np.float64), DTypeError),
    "float_list": ([float(v) for v in _NEW], DTypeError),
    "str": (_NEW.astype(str), DTypeError),
    "too_few": (_NEW[:-1], ShapeError),
    "too_many": (np.r_[_NEW, 6000], ShapeError),
    "scalar": (np.int64(5000), ShapeError),
    "2d": (_NEW.reshape(-1, 1), ShapeError),
    "2d_square": (_NEW.reshape(2, -1), ShapeError),
    "dup_in_batch": (np.r_[_NEW[0], _NEW[:-1]], DuplicateIdError),
    "dup_existing": (np.r_[0, _NEW[1:]], DuplicateIdError),
    "dup_existing_last": (np.r_[_NEW[:-1], N_BASE - 1], DuplicateIdError),
}


@pytest.mark.parametrize("case", list(BAD_ADD_IDS))
@pytest.mark.parametrize("kind", KINDS)
def test_add_rejects_bad_ids(lab, kind, case):
    ids, exc = BAD_ADD_IDS[case]
    idx = lab.built(kind)
    lab.rejects_unchanged(idx, exc, idx.add, lab.data.extra[:N_ADD], ids=ids)


ACCEPTED_ADD_IDS = {
    "int32": _NEW.astype(np.int32),
    "uint16": _NEW.astype(np.uint16),
    "list": _NEW.tolist(),
    "strided": np.repeat(_NEW, 2)[::2],
}


@pytest.mark.parametrize("case", list(ACCEPTED_ADD_IDS))
@pytest.mark.parametrize("kind", KINDS)
def test_add_accepts_id_variant(lab, kind, case):
    a, b = lab.built(kind), lab.built(kind)
    got = a.add(lab.data.extra[:N_ADD], ids=ACCEPTED_ADD_IDS[case])
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _NEW)
    np.testing.assert_array_equal(b.add(lab.data.extra[:N_ADD], ids=_NEW), _NEW)
    assert lab.saved(a) == lab.saved(b)


BAD_REMOVE = {
    "unknown": ([123456], UnknownIdError),
    "unknown_with_known": ([0, 1, 123456], UnknownIdError),
    "negative": ([-1], ParameterError),
    "negative_with_known": ([0, -5], ParameterError),
    "float": (np.array([0.0, 1.0]), DTypeError),
    "str": (np.array(["0", "1"]), DTypeError),
    "2d": (np.array([[0, 1]]), ShapeError),
}


@pytest.mark.parametrize("case", list(BAD_REMOVE))
@pytest.mark.parametrize("kind", KINDS)
def test_remove_rejects_bad_ids(lab, kind, case):
    ids, exc = BAD_REMOVE[case]
    idx = lab.built(kind)
    lab.rejects_unchanged(idx, exc, idx.remove, ids)


# ---- per-call search parameters --------------------------------------------------------------

COMMON_SEARCH = {
    "threads_-1": ({"threads": -1}, ParameterError),
    "threads_2**31": ({"threads": 2**31}, ParameterError),
    "threads_2.5": ({"threads": 2.5}, ParameterTypeError),
    "threads_str": ({"threads": "2"}, ParameterTypeError),
}
CODED_SEARCH = {
    "rerank_-1": ({"rerank": -1}, ParameterError),
    "rerank_2**31": ({"rerank": 2**31}, ParameterError),
    "rerank_str": ({"rerank": "x"}, ParameterTypeError),
    "rerank_2.5": ({"rerank": 2.5}, ParameterTypeError),
}
MATRYOSHKA_SEARCH = {
    "rerank_-1": ({"rerank": (-1,)}, ParameterError),
    "rerank_2**31": ({"rerank": (2**31,)}, ParameterError),
    "rerank_str": ({"rerank": ("x",)}, ParameterTypeError),
    "rerank_2.5": ({"rerank": (2.5,)}, ParameterTypeError),
    "dims_decreasing": ({"dims": (48, 16)}, ParameterError),
    "dims_past_dim": ({"dims": (16, 2 * D)}, ParameterError),
    "dims_zero": ({"dims": (0, D)}, ParameterError),
}


def _search_cases():
    out = []
    for kind in KINDS:
        table = dict(COMMON_SEARCH)
        table.update(CODED_SEARCH if kind in CODED else {})
        table.update(MATRYOSHKA_SEARCH if kind in MATRYOSHKA else {})
        out += [pytest.param(kind, *table[c], id=f"{kind}-{c}") for c in table]
    return out


@pytest.mark.parametrize("kind,params,exc", _search_cases())
def test_bad_search_parameter(lab, kind, params, exc):
    idx = lab.built(kind)
    lab.rejects_unchanged(idx, exc, idx.search, lab.data.queries, K, **params)


GOOD_SEARCH = {k: [{"threads": 1}] for k in KINDS}
for _k in CODED:
    GOOD_SEARCH[_k] += [{"rerank": 5}, {"rerank": 0}, {"rerank": 200}]
for _k in MATRYOSHKA:
    GOOD_SEARCH[_k] += [{"rerank": (20,)}, {"dims": (D // 2, D), "rerank": (30,)}]


@pytest.mark.parametrize("kind", KINDS)
def test_per_call_parameters_do_not_change_index(lab, kind):
    idx = lab.built(kind)
    before = lab.snap(idx)
    for params in GOOD_SEARCH[kind]:
        scores, ids = idx.search(lab.data.queries, K, **params)
        assert ids.shape == scores.shape == (len(lab.data.queries), K)
        problem = lab.changes(idx, before)
        assert not problem, f"after search(**{params}): {problem}"


@pytest.mark.parametrize("kind", CODED)
def test_rerank_without_stored_vectors(lab, kind):
    idx = make(kind, rerank=0)
    if not idx.is_trained:
        train(idx, lab.data.base)
    idx.add(lab.data.base)
    lab.rejects_unchanged(idx, ParameterError, idx.search, lab.data.queries, K, rerank=10)


# ---- constructor parameters ------------------------------------------------------------------

COMMON_CTOR = {
    "metric_cosin": ({"metric": "cosin"}, ParameterError),
    "dim_0": ({"dim": 0}, ParameterError),
    "dim_-3": ({"dim": -3}, ParameterError),
    "dim_2.5": ({"dim": 2.5}, ParameterTypeError),
    "dim_str": ({"dim": "64"}, ParameterTypeError),
    "threads_-1": ({"threads": -1}, ParameterError),
    "threads_2.5": ({"threads": 2.5}, ParameterTypeError),
    "threads_2**31": ({"threads": 2**31}, ParameterError),
    "dim_2**20+1": ({"dim": 2**20 + 1}, ParameterError),
}
KIND_CTOR = {
    "matryoshka": {
        "rotation_foo": ({"rotation": "foo"}, ParameterError),
        "dims_decreasing": ({"dims": (48, 16)}, ParameterError),
        "dims_past_dim": ({"dims": (16, 2 * D)}, ParameterError),
        "rerank_-1": ({"rerank": (-1,)}, ParameterError),
        "rerank_str": ({"rerank": ("x",)}, ParameterTypeError),
        "rerank_2**31": ({"rerank": (2**31,)}, ParameterError),
    },
    "binary": {
        "rerank_-1": ({"rerank": -1}, ParameterError),
        "rerank_str": ({"rerank": "x"}, ParameterTypeError),
        "threshold_foo": ({"threshold": "foo"}, ParameterError),
        "query_foo": ({"query": "foo"}, ParameterError),
        "rotation_foo": ({"rotation": "foo"}, ParameterError),
        "bits_0": ({"bits": 0}, ParameterError),
        "bits_past_dim": ({"bits": D + 1}, ParameterError),
        "rerank_2**31": ({"rerank": 2**31}, ParameterError),
    },
    "pq": {
        "M_not_dividing": ({"M": 7}, ParameterError),
        "M_0": ({"M": 0}, ParameterError),
        "M_2.5": ({"M": 2.5}, ParameterTypeError),
        "nbits_3": ({"nbits": 3}, ParameterError),
        "nbits_9": ({"nbits": 9}, ParameterError),
        "rerank_-1": ({"rerank": -1}, ParameterError),
        "rerank_str": ({"rerank": "x"}, ParameterTypeError),
        "rotation_foo": ({"rotation": "foo"}, ParameterError),
        "rerank_2**31": ({"rerank": 2**31}, ParameterError),
        "seed_-1": ({"seed": -1}, ParameterError),
        "seed_2**64": ({"seed": 2**64}, ParameterError),
        "rescore_-1": ({"rescore": -1}, ParameterError),
        "rescore_2**31": ({"rescore": 2**31}, ParameterError),
        "niter_0": ({"niter": 0}, ParameterError),
        "niter_10**9": ({"niter": 10**9}, ParameterError),
    },
    "rq": {
        "beam_0": ({"beam": 0}, ParameterError),
        "beam_2.5": ({"beam": 2.5}, ParameterTypeError),
        "M_0": ({"M": 0}, ParameterError),
        "nbits_3": ({"nbits": 3}, ParameterError),
        "nbits_9": ({"nbits": 9}, ParameterError),
        "rerank_-1": ({"rerank": -1}, ParameterError),
        "rerank_str": ({"rerank": "x"}, ParameterTypeError),
        "groups_not_dividing": ({"groups": 3}, ParameterError),
        "beam_10**9": ({"beam": 10**9}, ParameterError),  # asked for ~24 GB at the first add
        "rerank_2**31": ({"rerank": 2**31}, ParameterError),
        "norm_bits_9": ({"norm_bits": 9}, ParameterError),
        "M_256": ({"M": 256}, ParameterError),
    },
}
_FAMILY = {"flat": None, "flat_cosine": None, "matryoshka": "matryoshka",
           "matryoshka_pca": "matryoshka", "binary": "binary", "binary_float": "binary",
           "pq8": "pq", "pq4": "pq", "rq": "rq", "rq_groups": "rq"}


def _ctor_cases():
    out = []
    for kind in KINDS:
        table = {**COMMON_CTOR, **KIND_CTOR.get(_FAMILY[kind], {})}
        out += [pytest.param(kind, *table[c], id=f"{kind}-{c}") for c in table]
    return out


@pytest.mark.parametrize("kind,over,exc", _ctor_cases())
def test_bad_constructor_parameter(kind, over, exc):
    over = dict(over)
    dim = over.pop("dim", D)
    expect(exc, make, kind, dim, **over)


# ---- quantizers ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_quantizers(data):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = train(make_quantizer(name), data.base)
        return copy.deepcopy(cache[name])  # each test gets its own copy

    return get


def _codebooks(q):
    """(copy of the codebooks, None) or (None, why they cannot be read)."""
    try:
        return np.array(q.codebooks, copy=True), None
    except Exception as e:  # noqa: BLE001 - a protocol gap, reported with the call's result
        return None, f"cannot read codebooks: {_name(e)}"


def quantizer_rejects_unchanged(q, exc, fn, *args, **kwargs) -> None:
    """fn(*args) must raise exc and leave the quantizer's codebooks as they were."""
    before, problem = _codebooks(q)
    problems = [problem, raise_problem(exc, fn, *args, **kwargs)]
    if before is not None:
        after, problem = _codebooks(q)
        if problem or not np.array_equal(after, before):
            problems.append(problem or "codebooks changed")
    problems = [p for p in problems if p]
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _q_call(q, op, x):
    if op == "train":
        return train(q, x)
    if op == "encode":
        return q.encode(x)
    return q.compute_tables(x, metric="ip")


def _q_input(data, op):
    return {"train": data.base, "encode": data.extra[:N_ADD], "tables": data.queries}[op]


Q_OPS = ["train", "encode", "tables"]


@pytest.mark.parametrize("name,op,case", qparams(*[(op, c) for op in Q_OPS for c in BAD_ARRAYS]))
def test_quantizer_rejects_bad_array(data, trained_quantizers, name, op, case):
    make_bad, exc = BAD_ARRAYS[case]
    q = trained_quantizers(name)
    quantizer_rejects_unchanged(q, exc, _q_call, q, op, make_bad(_q_input(data, op)))


@pytest.mark.parametrize("name,op,case", qparams(*[
    (op, c) for op in Q_OPS for c in (ACCEPTED_TRAIN if op == "train" else ACCEPTED)]))
def test_quantizer_accepts_array_variant(data, trained_quantizers, name, op, case):
    given, same = ACCEPTED[case](_q_input(data, op))
    if op == "train":
        got = train(make_quantizer(name), given).codebooks
        ref = (train(make_quantizer(name), same) if case in ("float16", "half_rows")
               else trained_quantizers(name))
        np.testing.assert_array_equal(got, ref.codebooks)
        return
    q = trained_quantizers(name)
    got, want = _q_call(q, op, given), _q_call(q, op, same)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def _decode_bad(codes):
    return {
        "float32": (codes.astype(np.float32), DTypeError),
        "int64": (codes.astype(np.int64), DTypeError),
        "narrow": (np.ascontiguousarray(codes[:, :-1]), ShapeError),
        "wide": (np.concatenate([codes, codes[:, :1]], axis=1), ShapeError),
        "3d": (codes[:, None, :], ShapeError),
    }


@pytest.mark.parametrize("name,case", qparams(*["float32", "int64", "narrow", "wide", "3d"]))
def test_quantizer_decode_rejects(data, trained_quantizers, name, case):
    q = trained_quantizers(name)
    codes, exc = _decode_bad(q.encode(data.extra[:N_ADD]))[case]
    quantizer_rejects_unchanged(q, exc, q.decode, codes)


@pytest.mark.parametrize("name,case", qparams(*["fortran", "wide_slice", "half_rows", "readonly"]))
def test_quantizer_decode_accepts_variant(data, trained_quantizers, name, case):
    q = trained_quantizers(name)
    codes = q.encode(data.extra[:N_ADD])
    variants = {
        "fortran": np.asfortranarray(codes),
        "wide_slice": np.concatenate([codes, codes], axis=1)[:, : codes.shape[1]],
        "half_rows": codes[::2],
        "readonly": _readonly(codes),
    }
    given = variants[case]
    np.testing.assert_array_equal(q.decode(given), q.decode(np.ascontiguousarray(given)))


@pytest.mark.parametrize("name", qparams())
def test_quantizer_protocol(data, trained_quantizers, name):
    """What the matrix relies on: every codec has the same attributes and shapes."""
    q = trained_quantizers(name)
    codes = q.encode(data.extra[:N_ADD])
    assert codes.dtype == np.uint8 and codes.shape == (N_ADD, q.code_size)
    assert q.decode(codes).shape == (N_ADD, D)
    assert isinstance(q.ksub, int)
    assert q.compute_tables(data.queries, metric="ip").shape[0] == len(data.queries)
    assert np.asarray(q.codebooks).dtype == np.float32


@pytest.mark.parametrize("name", qparams())
def test_quantizer_bad_table_metric(data, trained_quantizers, name):
    q = trained_quantizers(name)
    expect(ParameterError, q.compute_tables, data.queries, metric="cos")


@pytest.mark.parametrize("name,op", qparams(*["encode", "decode", "tables"]))
def test_quantizer_untrained(data, trained_quantizers, name, op):
    codes = trained_quantizers(name).encode(data.extra[:N_ADD])
    q = make_quantizer(name)
    call = {"encode": lambda: q.encode(data.extra[:N_ADD]),
            "decode": lambda: q.decode(codes),
            "tables": lambda: q.compute_tables(data.queries, metric="ip")}[op]
    expect(NotTrainedError, call)


Q_CTOR = {
    "pq": {"dim_0": ({"dim": 0}, ParameterError), "dim_2.5": ({"dim": 2.5}, ParameterTypeError),
           "M_not_dividing": ({"M": 7}, ParameterError), "M_0": ({"M": 0}, ParameterError),
           "nbits_3": ({"nbits": 3}, ParameterError), "nbits_9": ({"nbits": 9}, ParameterError),
           "threads_-1": ({"threads": -1}, ParameterError),
           "threads_2**31": ({"threads": 2**31}, ParameterError),
           "seed_-1": ({"seed": -1}, ParameterError),
           "dim_2**20+1": ({"dim": 2**20 + 1}, ParameterError),
           "max_points_0": ({"max_points_per_centroid": 0}, ParameterError)},
    "rq": {"dim_0": ({"dim": 0}, ParameterError), "M_0": ({"M": 0}, ParameterError),
           "nbits_3": ({"nbits": 3}, ParameterError), "nbits_9": ({"nbits": 9}, ParameterError),
           "beam_0": ({"beam": 0}, ParameterError), "beam_2.5": ({"beam": 2.5}, ParameterTypeError),
           "threads_-1": ({"threads": -1}, ParameterError),
           "threads_2**31": ({"threads": 2**31}, ParameterError),
           "beam_10**9": ({"beam": 10**9}, ParameterError),
           "seed_-1": ({"seed": -1}, ParameterError),
           "niter_0": ({"niter": 0}, ParameterError),
           "progressive_dim_steps_65": ({"progressive_dim_steps": 65}, ParameterError)},
    "group_rq": {"groups_not_dividing": ({"groups": 3}, ParameterError),
                 "groups_0": ({"groups": 0}, ParameterError),
                 "nbits_9": ({"nbits": 9}, ParameterError),
                 "beam_0": ({"beam": 0}, ParameterError),
                 "threads_-1": ({"threads": -1}, ParameterError),
                 "seed_2**63-1": ({"seed": 2**63 - 1}, ParameterError)},  # seed + g overflows
    "binary": {"dim_0": ({"dim": 0}, ParameterError),
               "threshold_foo": ({"threshold": "foo"}, ParameterError),
               "bits_0": ({"bits": 0}, ParameterError),
               "bits_past_dim": ({"bits": D + 1}, ParameterError)},
}


def _q_ctor_cases():
    out = []
    for name, table in Q_CTOR.items():
        marks = [_NO_BQ] if name == "binary" else []
        out += [pytest.param(name, *table[c], marks=marks, id=f"{name}-{c}") for c in table]
    return out


@pytest.mark.parametrize("name,over,exc", _q_ctor_cases())
def test_quantizer_bad_constructor_parameter(name, over, exc):
    expect(exc, make_quantizer, name, **over)


# ---- ids near the int64 limit (issue 14) -------------------------------------------------------

@pytest.mark.parametrize("kind", ["flat", "pq8"])
def test_auto_ids_past_int64_are_refused(lab, kind):
    """Explicit ids up to 2**63 - 1 are fine; auto ids that would pass it raise (they used
    to raise OverflowError from numpy) and the index is unchanged."""
    idx = lab.built(kind)
    top = np.iinfo(np.int64).max
    assert idx.add(lab.data.extra[:2], ids=[top - 1, top]).tolist() == [top - 1, top]
    lab.rejects_unchanged(idx, ParameterError, idx.add, lab.data.extra[2:4])
    assert idx.add(lab.data.extra[2:3], ids=[N_BASE]).tolist() == [N_BASE]
