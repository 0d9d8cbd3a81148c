"""vecpress.distributed on a local Ray: a 4-shard index over wordnet-minilm returns exactly
the single-process IVFIndex's ids and scores, survives save/reopen on another number of
workers, routes add/remove to the owning shards, and refuses bad manifests."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest

import vecpress as vp

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from conftest import SHARED  # noqa: E402
from vecpress.distributed import (  # noqa: E402
    ShardedIVFIndex,
    assign_lists,
    balance_lists,
    coarse_probes,
    encode,
    encode_rows,
)

pytestmark = [
    pytest.mark.shared_data,
    # Ray Data warns when an actor pool gets fewer blocks than actors (small inputs)
    pytest.mark.filterwarnings("ignore:The minimum number of concurrent actors:UserWarning"),
    # Ray Data's own context warns about its deprecated settings when it is created
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

WORDNET = SHARED / "wordnet-minilm"
NLIST, SHARDS = 128, 4


@pytest.fixture(scope="module")
def local_ray():
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    if not (WORDNET / "base.npy").exists():
        pytest.skip(f"{WORDNET} is absent (shared data not available)")
    base = np.load(WORDNET / "base.npy")
    queries = np.load(WORDNET / "queries.npy").astype(np.float32)[:500]
    return base, queries


def _copy(index):
    """A private copy of an index (pickled, as Ray ships it)."""
    return pickle.loads(pickle.dumps(index))


@pytest.fixture(scope="module")
def trained(data):
    base, _ = data
    sample = base[np.random.default_rng(0).choice(len(base), 20_000, replace=False)]
    ivf = vp.IVFIndex(384, nlist=NLIST, quantizer=vp.ProductQuantizer(384, 48, 8), rerank=100)
    return ivf.train(sample)


@pytest.fixture(scope="module")
def single(trained, data):
    ix = _copy(trained)
    ix.add(data[0])
    return ix


@pytest.fixture(scope="module")
def sharded(local_ray, trained, data):
    ix = ShardedIVFIndex.build(trained, data[0], num_shards=SHARDS, num_workers=2,
                               encode_workers=2)
    yield ix
    ix.close()


@pytest.fixture(scope="module")
def saved(sharded, tmp_path_factory):
    d = tmp_path_factory.mktemp("sharded")
    sharded.save(d)
    return d


# ---- exactness ----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["merged", "shards"])
@pytest.mark.parametrize("k,nprobe,rerank", [(10, 8, 100), (10, 16, 0), (10, 32, 200),
                                             (100, 8, 50), (1, 4, 100)])
def test_same_ids_and_scores_as_single_process(single, sharded, data, k, nprobe, rerank,
                                               where):
    q = data[1]
    s1, i1 = single.search(q, k, nprobe=nprobe, rerank=rerank)
    s2, i2 = sharded.search(q, k, nprobe=nprobe, rerank=rerank, rerank_where=where)
    np.testing.assert_array_equal(i2, i1)
    np.testing.assert_array_equal(s2, s1)
    assert s2.dtype == np.float32 and i2.dtype == np.int64


@pytest.mark.parametrize("nq", [1, 9, 16, 30, 262, 270, 281, 500])
def test_same_scores_whatever_the_batch(single, sharded, data, nq):
    """Routed sub-batches keep each query's coarse-kernel block kind (packed or not), so
    even the code scores match bit for bit."""
    q = data[1][:nq]
    for rerank, k in ((0, 100), (100, 10)):
        s1, i1 = single.search(q, k, nprobe=8, rerank=rerank)
        s2, i2 = sharded.search(q, k, nprobe=8, rerank=rerank)
        np.testing.assert_array_equal(i2, i1)
        np.testing.assert_array_equal(s2, s1)


def test_search_calls_keep_block_kinds():
    from vecpress.distributed._shard import PACKED_MIN, QUERY_BLOCK, packed_in_batch, search_calls

    for nq in (1, 15, 16, 17, 256, 257, 271, 272, 600):
        flags = packed_in_batch(nq)
        assert flags.sum() == (nq if nq % QUERY_BLOCK == 0 or nq % QUERY_BLOCK >= PACKED_MIN
                               else nq - nq % QUERY_BLOCK)
        for sub in (flags, flags[::3], flags[1::7]):
            seen = []
            for rows, real in search_calls(sub):
                assert set(packed_in_batch(len(rows))[:real]) <= {bool(sub[rows[0]])}
                seen.extend(rows[:real].tolist())
            assert sorted(seen) == list(range(sub.size))


@pytest.mark.parametrize("metric,store", [("l2", "float32"), ("ip", "float16")])
def test_ties_and_other_stores(local_ray, data, metric, store):
    """Duplicated vectors tie on code and exact scores: the sharded index orders them as the
    single process does (the float32 store's kernel: lower id; compact stores: candidate
    order). L2 also checks the smaller-is-better merge and the per-row term."""
    base, q = data
    x = np.concatenate([base[:12_000], base[:1500]])  # ids 12000.. repeat ids 0..1499
    ix = vp.IVFIndex(384, nlist=32, metric=metric, quantizer=vp.ProductQuantizer(384, 48, 8),
                     rerank=50, store=store).train(base[:12_000:2])
    ref = _copy(ix)
    ref.add(x)
    with ShardedIVFIndex.build(ix, x, num_shards=3, num_workers=2) as sh:
        for k, nprobe, rerank in ((10, 4, 50), (100, 8, 0), (5, 2, 100)):
            s1, i1 = ref.search(q, k, nprobe=nprobe, rerank=rerank)
            s2, i2 = sh.search(q, k, nprobe=nprobe, rerank=rerank)
            np.testing.assert_array_equal(i2, i1)
            np.testing.assert_array_equal(s2, s1)
        _, i2 = sh.search(q, 10, nprobe=4)
        assert np.isin(i2, np.arange(12_000, 13_500)).any()  # duplicates do come back


def test_build_layout(sharded, single, trained, data):
    assert len(sharded) == len(single) == len(data[0])
    sizes = sharded.shard_sizes()
    assert sizes.sum() == len(data[0]) and sizes.size == SHARDS
    assert sizes.max() < 1.3 * sizes.mean()  # balanced by list sizes
    lists = np.bincount(assign_lists(trained, data[0]), minlength=NLIST)
    owned = np.bincount(sharded.list_to_shard, weights=lists, minlength=SHARDS)
    np.testing.assert_array_equal(owned, sizes)


def test_routing_sends_queries_to_owners_only(sharded, trained, data):
    probes = coarse_probes(trained, data[1], 8)
    assert probes.shape == (len(data[1]), 8)
    shards_hit = [np.unique(sharded.list_to_shard[p]).size for p in probes]
    assert min(shards_hit) >= 1 and np.mean(shards_hit) < SHARDS  # most queries skip a shard


def test_codes_do_not_depend_on_the_worker(local_ray, trained, single, data):
    """Ray Data codes (2 workers, odd chunks) == one process's codes == IVFIndex.add's."""
    x = data[0][:12_000]
    ds, n = encode(trained, [x[:5000], x[5000:]], num_workers=2, chunk_rows=1777)
    got = {key: [] for key in ("id", "list", "code")}
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for key in got:
            got[key].append(batch[key])
    got = {key: np.concatenate(v) for key, v in got.items()}
    assert n == len(x)
    np.testing.assert_array_equal(got["id"], np.arange(len(x)))
    ref = encode_rows(trained, x)
    np.testing.assert_array_equal(got["code"], ref["code"])
    np.testing.assert_array_equal(got["list"], ref["list"])
    # the single index added the same rows first: ids 0..n-1 are its first rows
    np.testing.assert_array_equal(got["code"], single._codes.data[:len(x)])


def test_build_from_files_and_datasets(local_ray, trained, data, tmp_path):
    """The same index from .npy files with explicit ids and from a Ray Dataset."""
    base, q = data
    x = base[:6000]
    ids = np.arange(6000, dtype=np.int64) * 10 + 7
    np.save(tmp_path / "a.npy", x[:2500])
    ref = _copy(trained)
    ref.add(x, ids)
    want = ref.search(q, 10, nprobe=16)
    with ShardedIVFIndex.build(trained, [tmp_path / "a.npy", x[2500:]], ids=ids, num_shards=3,
                               num_workers=2, chunk_rows=1000) as ix:
        got = ix.search(q, 10, nprobe=16)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
        assert ix.add(x[:1]).tolist() == [ids.max() + 1]
    ds = ray.data.from_items([{"vector": v, "id": int(i)} for v, i in zip(x, ids)])
    with ShardedIVFIndex.build(trained, ds, num_shards=2, num_workers=1) as ix:
        got = ix.search(q, 10, nprobe=16)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
    dup = ray.data.from_items([{"vector": v, "id": 5} for v in x[:10]])
    with pytest.raises(vp.DuplicateIdError):
        ShardedIVFIndex.build(trained, dup, num_shards=2, num_workers=1)


def test_balance_lists():
    m = balance_lists([100, 1, 1, 50, 50, 0], 2)
    loads = np.bincount(m, weights=[100, 1, 1, 50, 50, 0], minlength=2)
    assert sorted(loads) == [101, 102] or abs(loads[0] - loads[1]) <= 2
    with pytest.raises(vp.ParameterError):
        balance_lists([1, 2], 3)


# ---- save / reopen ------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 3])
def test_reopen_on_other_worker_counts(saved, single, data, workers):
    m = json.loads((saved / "manifest.json").read_text())
    assert m["num_shards"] == SHARDS and len(m["list_to_shard"]) == NLIST
    assert all(len(e["sha256"]) == 64 and (saved / e["file"]).is_file() for e in m["shards"])
    with ShardedIVFIndex.open(saved, num_workers=workers) as ix:
        assert ix.num_workers == workers and len(ix) == len(single)
        info = ix.shard_info()
        assert sorted(info) == list(range(SHARDS))
        assert all(v["store_mapped"] for v in info.values())  # rerank stores stay on disk
        assert len({v["worker"] for v in info.values()}) == min(workers, SHARDS)
        for nprobe, rerank in ((8, 100), (16, 0)):
            s1, i1 = single.search(data[1], 10, nprobe=nprobe, rerank=rerank)
            s2, i2 = ix.search(data[1], 10, nprobe=nprobe, rerank=rerank)
            np.testing.assert_array_equal(i2, i1)
            np.testing.assert_array_equal(s2, s1)


# ---- add / remove ------------------------------------------------------------------------
def test_add_remove_route_to_owning_shards(saved, trained, data, tmp_path):
    base, q = data
    ref = _copy(trained)
    ref.add(base)
    rng = np.random.default_rng(7)
    new = (q[:300] + 0.05 * rng.standard_normal(q[:300].shape)).astype(np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    new_ids = np.arange(10**6, 10**6 + 300)
    gone = rng.choice(len(base), 2000, replace=False)
    with ShardedIVFIndex.open(saved, num_workers=2) as ix:
        before = ix.shard_sizes()
        assert np.array_equal(ix.add(new, new_ids), new_ids)
        ref.add(new, new_ids)
        owner = ix.list_to_shard[assign_lists(trained, new)]
        np.testing.assert_array_equal(ix.shard_sizes() - before,
                                      np.bincount(owner, minlength=SHARDS))
        assert ix.remove(gone) == gone.size
        ref.remove(gone)
        auto = ix.add(new[:5])  # auto ids continue after the largest id
        np.testing.assert_array_equal(auto, ref.add(new[:5]))
        assert len(ix) == len(ref)
        for nprobe, rerank in ((8, 100), (16, 0)):
            s1, i1 = ref.search(q, 10, nprobe=nprobe, rerank=rerank)
            s2, i2 = ix.search(q, 10, nprobe=nprobe, rerank=rerank)
            np.testing.assert_array_equal(i2, i1)
            np.testing.assert_array_equal(s2, s1)
        assert not np.isin(gone, ix.search(q, 50, nprobe=NLIST)[1]).any()
        # refused writes change nothing
        n = len(ix)
        with pytest.raises(vp.DuplicateIdError):
            ix.add(new[:2], new_ids[:2])
        with pytest.raises(vp.UnknownIdError):
            ix.remove([gone[0], new_ids[0]])
        assert len(ix) == n and ix.search(q[:1], 1, nprobe=NLIST)[1].shape == (1, 1)
        # a save of the changed index reopens with every vector still in its owner's lists
        ix.save(tmp_path)
    with ShardedIVFIndex.open(tmp_path, num_workers=1) as again:
        assert len(again) == len(ref)
        np.testing.assert_array_equal(again.search(q, 10, nprobe=8)[1],
                                      ref.search(q, 10, nprobe=8)[1])


# ---- refusals ---------------------------------------------------------------------------
def _edit_manifest(d, change):
    m = json.loads((d / "manifest.json").read_text())
    change(m)
    (d / "manifest.json").write_text(json.dumps(m))


@pytest.fixture
def copy_of_saved(saved, tmp_path):
    d = tmp_path / "copy"
    d.mkdir()
    for p in saved.iterdir():
        if p.name.startswith("shard-"):
            os.link(p, d / p.name)  # the tests unlink a shard file before writing it
        else:
            shutil.copyfile(p, d / p.name)
    return d


def test_bad_manifests_are_refused(copy_of_saved, local_ray):
    d = copy_of_saved
    original = (d / "manifest.json").read_text()
    cases = [
        lambda m: m.update(list_to_shard=m["list_to_shard"][:-1]),
        lambda m: m.update(num_shards=3),
        lambda m: m["shards"][1].update(sha256="0" * 64),
        lambda m: m["shards"][0].update(file="../elsewhere.vp"),
        lambda m: m.update(model_sha256="f" * 64),
        lambda m: m.pop("list_to_shard"),
        lambda m: m.update(version=99),
        lambda m: m["list_to_shard"].__setitem__(0, 7),
    ]
    for change in cases:
        (d / "manifest.json").write_text(original)
        _edit_manifest(d, change)
        with pytest.raises(vp.FormatError):
            ShardedIVFIndex.open(d, num_workers=1)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(vp.FormatError, match="JSON"):
        ShardedIVFIndex.open(d)
    (d / "manifest.json").unlink()
    with pytest.raises(vp.FormatError, match="manifest"):
        ShardedIVFIndex.open(d)


def test_corrupted_or_missing_shard_file_is_refused(copy_of_saved, local_ray):
    d = copy_of_saved
    m = json.loads((d / "manifest.json").read_text())
    shard = d / m["shards"][2]["file"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.unlink()  # break the hard link before writing
    shard.write_bytes(bytes(data))
    with pytest.raises(vp.FormatError, match="sha256"):
        ShardedIVFIndex.open(d, num_workers=2)
    shard.unlink()
    with pytest.raises(vp.FormatError, match="missing"):
        ShardedIVFIndex.open(d, num_workers=2)
    # a shard file of another index under the right name (checksums skipped): its model differs
    other = vp.IVFIndex(384, nlist=NLIST, quantizer=vp.ProductQuantizer(384, 48, 8), rerank=100)
    other.train(np.random.default_rng(1).standard_normal((5000, 384)).astype(np.float32))
    other.save(shard)
    with pytest.raises(vp.FormatError, match="model"):
        ShardedIVFIndex.open(d, num_workers=2, verify=False)


def test_bad_input(local_ray, sharded, trained, data):
    with pytest.raises(vp.DimensionError):
        sharded.search(data[1][:, :100], 10)
    with pytest.raises(vp.ParameterError):
        sharded.search(data[1], 0)
    with pytest.raises(vp.ParameterError):
        sharded.search(data[1], 10, nprobe=0)
    with pytest.raises(vp.ParameterError, match="rerank_where"):
        sharded.search(data[1], 10, rerank_where="router")
    with pytest.raises(vp.ParameterError):
        ShardedIVFIndex.build(trained, data[0][:100], num_shards=NLIST + 1)
    with pytest.raises(vp.NotTrainedError):
        ShardedIVFIndex.build(vp.IVFIndex(384, nlist=16), data[0][:100], num_shards=2)
    with pytest.raises(vp.DimensionError):
        ShardedIVFIndex.build(trained, data[0][:100, :64], num_shards=2)
    with pytest.raises(vp.ParameterError, match="trained"):
        ShardedIVFIndex.build(object(), data[0][:100], num_shards=2)
    no_store = vp.IVFIndex(384, nlist=16, quantizer=vp.ProductQuantizer(384, 48, 8))
    no_store.train(data[0][:5000])
    with ShardedIVFIndex.build(no_store, data[0][:3000], num_shards=2, num_workers=1) as ix:
        with pytest.raises(vp.ParameterError, match="rerank"):
            ix.search(data[1], 10, rerank=10)
        single = _copy(no_store)
        single.add(data[0][:3000])
        np.testing.assert_array_equal(ix.search(data[1], 10, nprobe=4)[1],
                                      single.search(data[1], 10, nprobe=4)[1])
    with pytest.raises(vp.ParameterError, match="closed"):
        ix.search(data[1], 10)


def test_filtered_search_returns_only_allowed_ids(sharded, single, data):
    """A filtered search reaches every shard, and each widens its own probing (see
    docs/scale.md): not the single process's lists, but at least its recall."""
    base, q = data
    allow = np.arange(0, len(base), 3)
    _, i2 = sharded.search(q, 10, nprobe=8, filter=allow)
    assert np.isin(i2[i2 >= 0], allow).all() and (i2 >= 0).all()
    _, i1 = single.search(q, 10, nprobe=8, filter=allow)
    exact = np.argsort(-(q @ base[allow].T), axis=1)[:, :10]
    truth = allow[exact]

    def recall(ids):
        return np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(ids, truth)])

    assert recall(i2) >= recall(i1) - 0.01
    sel = vp.IdSelector(deny=np.arange(1000))
    assert not np.isin(sharded.search(q, 10, nprobe=8, filter=sel)[1], np.arange(1000)).any()
