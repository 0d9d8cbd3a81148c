"""Issue 14: retraining a populated index, extreme values, parameter bounds, crash-safe saves."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import vecpress as vp
from vecpress.datasets import load_sample

D = 64


@pytest.fixture(scope="module")
def data():
    s = load_sample()
    x = np.ascontiguousarray(s.base[:1200, :D])
    other = np.ascontiguousarray(s.base[1200:2400, :D][:, ::-1] * 3.0 + 0.5)
    return x, other


def quiet_train(idx, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vp.SmallTrainingSetWarning)
        return idx.train(x)


def self_hit(idx, x):
    """Fraction of stored vectors (ids 0..n-1) found first when searched for themselves."""
    return float(np.mean(idx.search(x, 1)[1][:, 0] == np.arange(len(x))))


# Every index type and setting that learns a model from data (issue 14, item 1).
RETRAINABLE = {
    "pq8": lambda: vp.PQIndex(D, M=16, nbits=8, niter=5),
    "pq4_opq_rerank": lambda: vp.PQIndex(D, "l2", M=16, nbits=4, rotation="opq", rerank=20,
                                         niter=5),
    "rq_l2": lambda: vp.RQIndex(D, "l2", M=4, beam=2),
    "rq_groups": lambda: vp.RQIndex(D, "cosine", M=2, nbits=4, beam=2, groups=2, rerank=10),
    "matryoshka_pca": lambda: vp.MatryoshkaIndex(D, dims=(16, D), rerank=(50,), rotation="pca"),
    "binary_median": lambda: vp.BinaryIndex(D, threshold="median", rerank=0),
    "binary_pca": lambda: vp.BinaryIndex(D, rotation="pca", query="float", rerank=0),
}


@pytest.mark.parametrize("kind", list(RETRAINABLE))
def test_train_on_populated_index_is_refused(data, kind):
    """pq.train(x); pq.add(x); pq.train(other) used to re-learn the model under the stored
    codes (self-hit@1 0.775 -> 0.0). Now it raises and changes nothing."""
    x, other = data
    idx = quiet_train(RETRAINABLE[kind](), x)
    idx.add(x)
    before = self_hit(idx, x)
    scores, ids = idx.search(x[:20], 10)
    with pytest.raises(vp.IndexNotEmptyError, match="remove every vector") as err:
        quiet_train(idx, other)
    assert isinstance(err.value, vp.VecpressError) and isinstance(err.value, RuntimeError)
    assert self_hit(idx, x) == before
    s2, i2 = idx.search(x[:20], 10)
    np.testing.assert_array_equal(i2, ids)
    np.testing.assert_array_equal(s2, scores)
    # Emptied, it trains again (here on the first sample) and is as good as before.
    idx.remove(idx.ids)
    quiet_train(idx, x)
    idx.add(x, ids=np.arange(len(x)))
    assert self_hit(idx, x) == before


@pytest.mark.parametrize("make", [lambda: vp.MatryoshkaIndex(D, dims=(16, D), rerank=(20,)),
                                  lambda: vp.BinaryIndex(D, rerank=0)],
                         ids=["matryoshka_raw", "binary_zero"])
def test_train_without_a_model_stays_a_noop(data, make):
    x, other = data
    idx = make()
    idx.add(x)
    before = idx.search(x[:20], 5)
    idx.train(other)  # nothing is learned, so nothing stored can go stale
    after = idx.search(x[:20], 5)
    np.testing.assert_array_equal(after[1], before[1])
