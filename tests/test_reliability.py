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


# ---- crash-safe saves (item 3) ----------------------------------------------------------------

_SAVER = """
import sys
import numpy as np
import vecpress as vp
path, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
idx = vp.FlatIndex(dim)
idx.add(np.random.default_rng(7).standard_normal((n, dim), dtype=np.float32))
print("ready", flush=True)
while True:
    idx.save(path)
"""


def _digest(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temps(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}.")
                  and p.name.endswith(".tmp"))


def test_sigkill_during_save_leaves_old_or_new_and_next_save_cleans_up(tmp_path):
    """A child process saves a 64 MB index in a loop and is SIGKILLed at a random moment
    (VECPRESS_SIGKILL_ROUNDS times, default 5): the target is always the old or the new
    index, and the next save removes the temp file the killed save left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    rounds = int(os.environ.get("VECPRESS_SIGKILL_ROUNDS", "5"))
    n, dim = 65536, 256
    target, ref = tmp_path / "index.vp", tmp_path / "new" / "index.vp"
    old = vp.FlatIndex(dim)
    old.add(np.ones((3, dim), np.float32))
    new = vp.FlatIndex(dim)
    new.add(np.random.default_rng(7).standard_normal((n, dim), dtype=np.float32))
    t0 = time.perf_counter()
    new.save(ref)
    save_s = time.perf_counter() - t0
    want = {"old": None, "new": _digest(ref)}
    rng = np.random.default_rng(0)
    seen = {"old": 0, "new": 0, "temp files left": 0}
    for _ in range(rounds):
        old.save(target)  # restores the old index and must clean up the last kill's temp file
        assert _temps(tmp_path, target.name) == []
        want["old"] = want["old"] or _digest(target)
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(target), str(n), str(dim)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(float(rng.uniform(0.0, 2.0 * save_s)))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()
        got = _digest(target)
        assert got in want.values(), "a killed save left a file that is neither old nor new"
        seen["old" if got == want["old"] else "new"] += 1
        seen["temp files left"] += len(_temps(tmp_path, target.name))
        assert len(vp.load(target)) in (3, n)
    old.save(target)
    assert _temps(tmp_path, target.name) == []
    print(f"{rounds} SIGKILLs during {ref.stat().st_size / 2**20:.0f} MB saves "
          f"({save_s:.2f} s each): {seen}")


def test_save_removes_only_stale_temp_files_of_its_target(tmp_path):
    from vecpress import io as vio

    idx = vp.FlatIndex(4)
    idx.add(np.ones((2, 4), np.float32))
    stale = [tmp_path / ".a.vp.abcd1234.tmp", tmp_path / ".a.vp.zz__9876.tmp"]
    kept = [tmp_path / ".a.vp.notours.tmp", tmp_path / ".b.vp.abcd1234.tmp",
            tmp_path / ".a.vp.x.abcd1234.tmp", tmp_path / "a.vp.abcd1234.tmp"]
    for p in stale + kept:
        p.write_bytes(b"partial")
    idx.save(tmp_path / "a.vp")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.vp"] + [p.name for p in kept])
    # a save in progress holds a lock on its temp file: a cleaner leaves it alone
    import fcntl

    live = tmp_path / ".a.vp.live1234.tmp"
    with open(live, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert vio.remove_stale_temps(tmp_path / "a.vp") == 0
        assert live.exists()
    assert vio.remove_stale_temps(tmp_path / "a.vp") == 1 and not live.exists()


def test_save_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
    import os
    import stat

    calls = []
    real = os.fsync

    def spy(fd):
        calls.append((stat.S_ISDIR(os.fstat(fd).st_mode), (tmp_path / "i.vp").exists()))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    idx = vp.FlatIndex(4)
    idx.add(np.ones((2, 4), np.float32))
    idx.save(tmp_path / "i.vp")
    assert calls == [(False, False), (True, True)]  # the file, then its folder after the rename


# ---- extreme values (item 4) ------------------------------------------------------------------

BOUNDED = {  # index types scoring raw vectors: norms past 2**62 would overflow float32 scores
    "flat_l2": lambda: vp.FlatIndex(D, "l2"),
    "flat_ip": lambda: vp.FlatIndex(D, "ip"),
    "matryoshka_l2": lambda: vp.MatryoshkaIndex(D, "l2", dims=(16, D), rerank=(20,)),
    "binary_l2": lambda: vp.BinaryIndex(D, "l2", rerank=20),
    "pq_l2": lambda: vp.PQIndex(D, "l2", M=8, nbits=4, niter=3, rerank=10),
    "rq_ip": lambda: vp.RQIndex(D, "ip", M=2, nbits=4, beam=2),
}


def _huge(x, value=1e19):
    x = x.copy()
    x[1, 0] = value  # one row of norm ~value: its scores with any vector overflow float32
    return x


@pytest.mark.parametrize("kind", list(BOUNDED))
def test_vectors_whose_scores_overflow_are_refused(data, kind):
    """Flat L2 with values near 1e19 scored inf, and inf - inf clamped to 0 made every
    distance 0. Such vectors are refused (add, search, train) and the index is unchanged."""
    x, _ = data
    idx = BOUNDED[kind]()
    if not idx.is_trained:
        with pytest.raises(vp.ParameterError, match="overflow float32"):
            quiet_train(idx, _huge(x))
        assert not idx.is_trained
        quiet_train(idx, x)
    idx.add(x[:200])
    before = idx.search(x[:5], 3)
    with pytest.raises(vp.ParameterError, match="norm up to 1e\\+19 \\(row 1\\)"):
        idx.add(_huge(x[:5]))
    with pytest.raises(vp.ParameterError, match="queries have L2 norm"):
        idx.search(_huge(x[:5]), 3)
    assert len(idx) == 200
    after = idx.search(x[:5], 3)
    np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_largest_accepted_values_score_exactly(metric):
    """Just inside the bound, scores are finite and right (no inf, no inf - inf = 0)."""
    big = 2.0 ** 61
    x = np.array([[big, 0, 0, 0], [-big, 0, 0, 0], [0, big, 0, 0], [1, 2, 3, 4]], np.float32)
    idx = vp.FlatIndex(4, metric)
    idx.add(x)
    scores, ids = idx.search(x[:1], 4)
    ref = {"l2": ((x[0].astype(np.float64) - x.astype(np.float64)) ** 2).sum(1),
           "ip": x.astype(np.float64) @ x[0].astype(np.float64)}[metric]
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores[0], ref[ids[0]], rtol=1e-5)
    assert ids[0, 0] == 0 and ids[0, -1] == 1


def test_cosine_of_huge_vectors_is_exact(data):
    """x * 1e30 used to store zero vectors (the norm overflowed float32)."""
    x, _ = data
    idx = vp.FlatIndex(D, "cosine")
    idx.add(x[:100] * np.float32(1e30))
    np.testing.assert_allclose(np.linalg.norm(idx.vectors, axis=1), 1.0, rtol=1e-5)
    assert self_hit(idx, x[:100] * np.float32(1e30)) == 1.0


def test_quantizer_numeric_guards(data):
    x, _ = data
    rq = quiet_train(vp.ResidualQuantizer(D, M=2, nbits=4, beam=2), x)
    grq = quiet_train(vp.GroupResidualQuantizer(D, 2, 2, nbits=4, beam=2), x)
    for q in (rq, grq):
        for scale in (float("nan"), float("inf")):
            with pytest.raises(vp.ParameterError, match="scale must be finite"):
                q.compute_tables(x[:2], scale=scale)
        with pytest.raises(vp.ParameterError, match="overflow"):
            q.encode(_huge(x[:3]))
    cb = np.zeros((2, 16, D), np.float32)
    with pytest.raises(vp.NonFiniteError):
        vp.ResidualQuantizer.from_codebooks(np.full_like(cb, np.nan))
    with pytest.raises(vp.ParameterError, match="decode to vectors of norm"):
        vp.ResidualQuantizer.from_codebooks(cb + np.float32(1e18))
    with pytest.raises(vp.ParameterError, match="decode to vectors of norm"):
        vp.ProductQuantizer.from_codebooks(np.full((4, 16, 4), 1e19, np.float32))


# ---- numeric parameter bounds (item 5) ---------------------------------------------------------

def test_ids_at_the_int64_limit_survive_save_and_load(tmp_path):
    top = np.iinfo(np.int64).max
    idx = vp.FlatIndex(4)
    idx.add(np.eye(4, dtype=np.float32)[:2], ids=[0, top])
    idx.save(tmp_path / "top.vp")
    back = vp.load(tmp_path / "top.vp")  # next_id is 2**63: valid, and auto ids have run out
    with pytest.raises(vp.ParameterError, match="auto ids would pass"):
        back.add(np.ones((1, 4), np.float32))
    assert back.add(np.ones((1, 4), np.float32), ids=[5]).tolist() == [5]
    assert back.search(np.eye(4, dtype=np.float32)[1:2], 1)[1].tolist() == [[top]]


def test_huge_k_is_capped_before_anything_is_allocated(data):
    x, _ = data
    idx = vp.FlatIndex(D)
    idx.add(x[:50])
    with pytest.raises(vp.ParameterError, match="pass k <= len"):
        idx.search(x[:2], 10**12)  # used to ask numpy for 7.28 TiB
    s, i = idx.search(x[:2], 10_000)  # padding within the bound still works
    assert i.shape == (2, 10_000) and (i[:, 50:] == -1).all() and np.isneginf(s[:, 50:]).all()


@pytest.mark.parametrize("make", [
    lambda d: vp.FlatIndex(d), lambda d: vp.PQIndex(d, M=4, nbits=8, rerank=20),
    lambda d: vp.BinaryIndex(d, rerank=20), lambda d: vp.RaBitQIndex(d, rerank=20),
    lambda d: vp.IVFIndex(d, 4, vp.ProductQuantizer(d, 4, 4), nprobe=4, rerank=20),
    lambda d: vp.IVFIndex(d, 4, vp.RaBitQuantizer(d), nprobe=4, rerank=20),
    lambda d: vp.MatryoshkaIndex(d, dims=(8, d), rerank=20)])
def test_indexes_pickle_and_search_the_same(make):
    """Indexes travel to worker processes (Ray, multiprocessing): the locks are recreated,
    and the unpickled arrays (equal dtypes that are not numpy's cached instances) are
    accepted by the kernels."""
    import pickle

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    index = make(16)
    if not index.is_trained:
        index.train(x)
    index.add(x)
    again = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(again.search(x[:20], 5)[1], index.search(x[:20], 5)[1])
    again.add(x[:10])
    again.remove(again.ids[:3])
    assert len(again) == len(index) + 7


def test_empty_l2_ivf_saves_and_loads(tmp_path):
    x = np.random.default_rng(1).standard_normal((500, 8)).astype(np.float32)
    index = vp.IVFIndex(8, 4, vp.ProductQuantizer(8, 2, 4), "l2")
    index.train(x)
    index.save(tmp_path / "empty.vp")
    again = vp.load(tmp_path / "empty.vp")
    assert len(again) == 0 and again.is_trained
    again.add(x)
    assert again.search(x[:3], 1)[1][:, 0].tolist() != [-1, -1, -1]
