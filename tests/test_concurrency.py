"""The concurrency contract (vecpress.indexes.base): searches run alongside adds, removes and
saves; each search sees every add/remove whole or not at all; auto ids never collide.

Each test drives real threads against one index and checks every result against a log of
when each id's add and remove returned (a global sequence number, not wall time).
"""
import itertools
import threading

import numpy as np
import pytest

import vecpress as vp

DIM = 32
N0 = 6000  # vectors present before the threads start
SECONDS = 2.0


def _indexes():
    return {
        "flat": lambda: vp.FlatIndex(DIM),
        "matryoshka": lambda: vp.MatryoshkaIndex(DIM, dims=(8, DIM), rerank=100),
        "binary": lambda: vp.BinaryIndex(DIM, rerank=100),
        "pq": lambda: vp.PQIndex(DIM, M=8, nbits=8, rerank=50),
        "pq4": lambda: vp.PQIndex(DIM, M=16, nbits=4, rerank=50),
        "rq": lambda: vp.RQIndex(DIM, M=4, nbits=6, rerank=50),
        "ivf": lambda: vp.IVFIndex(DIM, 16, vp.ProductQuantizer(DIM, 16, 4), nprobe=4,
                                   rerank=50),
        "ivf-rabitq": lambda: vp.IVFIndex(DIM, 16, vp.RaBitQuantizer(DIM), nprobe=4, rerank=50),
    }


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((N0 + 20000, DIM)).astype(np.float32)


def _built(name, data):
    index = _indexes()[name]()
    if not index.is_trained:
        index.train(data[:4000])
    index.add(data[:N0])
    return index


class _Log:
    """A global clock and, per id, the clock when its add / remove returned."""

    def __init__(self, initial_ids):
        self._clock = itertools.count()
        self._lock = threading.Lock()
        self.added = {int(i): -1 for i in initial_ids}  # id -> clock when add returned
        self.removed = {}  # id -> clock when remove returned

    def now(self) -> int:
        with self._lock:
            return next(self._clock)


@pytest.mark.parametrize("name", list(_indexes()))
def test_search_while_adding_and_removing(name, data, tmp_path):
    index = _built(name, data)
    log = _Log(index.ids)
    queries = data[N0 + 19000:N0 + 19032]
    stop = threading.Event()
    errors, violations, searches = [], [], [0]
    fresh = iter(range(N0, N0 + 19000))  # row of data each writer adds next
    fresh_lock = threading.Lock()

    def writer(w):
        rng = np.random.default_rng(w)
        try:
            while not stop.is_set():
                with fresh_lock:
                    rows = [next(fresh) for _ in range(8)]
                new = np.array(rows, np.int64) + 10**6  # explicit ids: the data row + 10^6
                index.add(data[rows], ids=new)
                t = log.now()
                for i in new:
                    log.added[int(i)] = t
                # remove a few live ids that this writer added (no other writer removes them)
                mine = [i for i in new if rng.random() < 0.7]
                index.remove(mine)
                t = log.now()
                for i in mine:
                    log.removed[int(i)] = t
                if w == 0 and rng.random() < 0.05:
                    index.save(tmp_path / "live.vp")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    def searcher(s):
        try:
            while not stop.is_set():
                start = log.now()
                _, ids = index.search(queries[s::8], 10)
                searches[0] += 1
                for i in ids.ravel().tolist():
                    if i == -1:
                        violations.append(("padding", i))
                    elif i not in log.added and i - 10**6 not in range(N0, N0 + 19000):
                        violations.append(("never added", i))
                    elif log.removed.get(i, start) < start:
                        violations.append(("removed before the search started", i))
        except Exception as e:  # pragma: no cover
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=searcher, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    stop.wait(SECONDS)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert not violations, violations[:5]
    assert searches[0] > 8
    # every id whose add returned and whose remove did not is in the index, exactly once
    live = {i for i in log.added if i not in log.removed}
    assert sorted(index.ids.tolist()) == sorted(live)
    index.save(tmp_path / "after.vp")
    again = vp.load(tmp_path / "after.vp")
    np.testing.assert_array_equal(again.ids, index.ids)
    np.testing.assert_array_equal(again.search(queries, 10)[1], index.search(queries, 10)[1])


def test_concurrent_auto_id_adds_store_each_vector_once(data, tmp_path):
    index = vp.FlatIndex(DIM)
    chunks = np.array_split(data[:12000], 4 * 30)
    out = [[] for _ in range(4)]

    def adder(w):
        for c in chunks[w::4]:
            out[w].append((index.add(c), c))

    threads = [threading.Thread(target=adder, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = np.concatenate([i for o in out for i, _ in o])
    assert ids.size == 12000 and np.unique(ids).size == 12000
    assert len(index) == 12000
    # each id holds the vector its add was given
    stored = dict(zip(index.ids.tolist(), index.vectors))
    for o in out:
        for i, c in o:
            np.testing.assert_array_equal(np.stack([stored[j] for j in i.tolist()]), c)
    index.save(tmp_path / "auto.vp")
    again = vp.load(tmp_path / "auto.vp")
    assert sorted(again.ids.tolist()) == sorted(ids.tolist())
    assert again.add(data[:1])[0] == 12000  # auto ids continue after the largest


@pytest.mark.parametrize("name", list(_indexes()))
def test_concurrent_searches_equal_serial(name, data):
    index = _built(name, data)
    queries = data[N0:N0 + 64]
    allow = np.arange(0, N0, 3)
    calls = [dict(k=10), dict(k=5, threads=1), dict(k=10, filter=allow)]
    if getattr(index, "rerank", 0):
        calls.append(dict(k=10, rerank=20))
    if name.startswith("ivf"):
        calls.append(dict(k=10, nprobe=16))
    serial = [index.search(queries, **c) for c in calls]
    results, errors = {}, []

    def run(t):
        try:
            for r in range(6):
                j = (t + r) % len(calls)
                results[(t, r)] = (j, index.search(queries, **calls[j]))
        except Exception as e:  # pragma: no cover
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(results) == 48
    for j, (s, i) in results.values():
        np.testing.assert_array_equal(i, serial[j][1])
        np.testing.assert_array_equal(s, serial[j][0])


def test_concurrent_removes_lose_nothing(data):
    index = vp.PQIndex(DIM, M=8, nbits=8)
    index.train(data[:4000])
    index.add(data[:8000])
    parts = np.array_split(np.arange(8000), 4)
    errors = []

    def remover(p):
        try:
            for c in np.array_split(p, 20):
                index.remove(c)
        except Exception as e:  # pragma: no cover
            errors.append(repr(e))

    threads = [threading.Thread(target=remover, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(index) == 0


def test_searches_run_in_parallel(data):
    """The lock is shared by searches: two threads searching at once overlap in time."""
    index = vp.FlatIndex(DIM, threads=1)
    index.add(np.tile(data[:20000], (4, 1)))
    q = data[:256]
    inside, peak, lock = [0], [0], threading.Lock()
    original = index._scan

    def counting_scan(*a, **kw):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            return original(*a, **kw)
        finally:
            with lock:
                inside[0] -= 1

    index._scan = counting_scan
    threads = [threading.Thread(target=index.search, args=(q, 10)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert peak[0] >= 2


def test_searches_run_while_an_add_encodes(data):
    """add() encodes under the shared lock: a search is not held up by a slow encode."""
    index = _built("ivf", data)
    entered, release = threading.Event(), threading.Event()
    original = index._encode_rows

    def slow_encode(x):
        entered.set()
        release.wait(30)
        return original(x)

    index._encode_rows = slow_encode
    adder = threading.Thread(target=index.add, args=(data[N0:N0 + 100],))
    adder.start()
    assert entered.wait(30)
    done = []
    searcher = threading.Thread(target=lambda: done.append(index.search(data[:4], 5)))
    searcher.start()
    searcher.join(10)
    finished_while_encoding = bool(done)
    release.set()
    adder.join(30)
    searcher.join(30)
    assert finished_while_encoding
    assert len(index) == N0 + 100
