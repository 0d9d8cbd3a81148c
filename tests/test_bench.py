"""The benchmark harness (vecpress.bench): quality measures on hand-made
cases, dataset loaders, grid validation, and a smoke run end to end."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from vecpress.bench import load_grid, load_qrels, open_dataset, recalls, run_benchmark
from vecpress.bench.adapters import ADAPTERS
from vecpress.bench.configs import builtin_grids, validate_grid
from vecpress.bench.data import ground_truth
from vecpress.bench.plots import pareto
from vecpress.bench.runner import ndcg10, training_sample
from vecpress.cli import main as vecpress_main
from vecpress.datasets import Dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRID_FILES = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "configs").glob("*.json"))

OK_KEYS = {"dataset", "config", "search", "label", "k", "batch", "repeats", "threads", "machine",
           "train_s", "add_s", "build_s", "bytes_per_vector", "total_bytes", "qps_batch",
           "qps_batch1", "latency_p50_ms", "latency_p99_ms", "recall@1", "recall@10",
           "recall@100", "status", "add_vps", "code_bytes", "scan_GBps", "mse"}


def test_recalls_hand_made():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[1, 3, 9], [7, 8, 4]])
    # q0: top-1 hit, {1,2,3} & {1,3,9} = 2; q1: top-1 miss, {4,5,6} & {7,8,4} = 1
    assert recalls(found, truth, ks=(1, 3)) == {"recall@1": 0.5, "recall@3": 0.5}
    # k deeper than either array is left out rather than guessed
    assert set(recalls(found, truth, ks=(1, 10))) == {"recall@1"}
    # padding (-1) never counts as a hit, even against a -1 in the truth
    assert recalls(np.array([[-1, -1, 3]]), np.array([[-1, 3, 4]]), ks=(3,)) == {"recall@3": 1 / 3}


def test_ndcg10_hand_made():
    rel = {"qrels": {0: {"d0": 1}, 1: {"d1": 2, "d2": 1}}, "doc_keys": np.array(["d0", "d1", "d2"])}
    ids = np.array([[1, 0, 2], [1, 2, 0]])
    # q0: its only relevant doc at rank 2 -> 1/log2(3); q1: ideal order -> 1
    assert ndcg10(ids, rel) == pytest.approx((1 / np.log2(3) + 1.0) / 2)
    # row-number judgements (no doc_keys), padding ignored
    assert ndcg10(np.array([[-1, 5]]), {"qrels": {0: {5: 1}}, "doc_keys": None}) == \
        pytest.approx(1 / np.log2(3))


def test_pareto_keeps_only_undominated_points():
    pts = [(100, 0.9), (200, 0.8), (150, 0.7), (50, 0.95), (300, 0.5), (250, 0.5)]
    assert pareto(pts) == [(300, 0.5), (200, 0.8), (100, 0.9), (50, 0.95)]


def test_load_qrels_both_layouts(tmp_path):
    a = tmp_path / "rows"
    a.mkdir()
    (a / "qrels.tsv").write_text("query_index\tdoc_index\n0\t5\n0\t7\n2\t1\n")
    assert load_qrels(a) == {"qrels": {0: {5: 1, 7: 1}, 2: {1: 1}}, "doc_keys": None}
    b = tmp_path / "beir"
    b.mkdir()
    (b / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq9\tdocB\t1\nq1\tdocA\t2\nqX\tdocA\t1\n")
    (b / "query_ids.txt").write_text("q1\nq9\n")
    (b / "doc_ids.txt").write_text("docA\ndocB\n")
    got = load_qrels(b)
    assert got["qrels"] == {1: {"docB": 1}, 0: {"docA": 2}}  # unknown query qX dropped
    assert list(got["doc_keys"]) == ["docA", "docB"]
    assert load_qrels(tmp_path) is None


def test_grid_validation_messages(tmp_path):
    with pytest.raises(ValueError, match="unknown adapter 'faiss.nope'"):
        validate_grid([{"name": "x", "adapter": "faiss.nope"}])
    with pytest.raises(ValueError, match="two entries named 'x'"):
        validate_grid([{"name": "x", "adapter": "faiss.flat"}] * 2)
    with pytest.raises(ValueError, match="unknown keys"):
        validate_grid([{"name": "x", "adapter": "faiss.flat", "paramz": {}}])
    with pytest.raises(ValueError, match="'search' must be a non-empty list"):
        validate_grid([{"name": "x", "adapter": "faiss.flat", "search": {"nprobe": 1}}])
    f = tmp_path / "grid.json"
    f.write_text(json.dumps([{"name": "a", "adapter": "vecpress.flat"},
                             {"name": "b", "adapter": "faiss.flat", "search": [{}]}]))
    grid = load_grid(str(f), only=["b"])
    assert [c["name"] for c in grid] == ["b"] and grid[0]["group"] == "faiss.flat"
    with pytest.raises(FileNotFoundError, match="neither a built-in grid"):
        load_grid(str(tmp_path / "missing.json"))
    for name in ("default", "smoke", "scifact"):
        assert load_grid(name)


@pytest.mark.parametrize("path", GRID_FILES, ids=[p.stem for p in GRID_FILES])
def test_every_grid_file_validates_and_names_known_adapters(path):
    grid = load_grid(str(path))  # validate_grid, plus every 'vs' names a config of the grid
    assert grid and {c["adapter"] for c in grid} <= set(ADAPTERS)
    # the built-in grid of that name (installed into the package, or this very file in a
    # source tree) holds the same configs: the wheel ships every grid, unchanged
    assert load_grid(path.stem) == grid


def test_builtin_grids_are_the_benchmarks_configs_files():
    assert GRID_FILES and set(builtin_grids()) == {p.stem for p in GRID_FILES}
    assert {"default", "smoke", "scifact"} <= set(builtin_grids())


def test_installed_grids_come_before_the_source_tree(tmp_path, monkeypatch):
    from vecpress.bench import configs

    (tmp_path / "mine.json").write_text(json.dumps([{"name": "a", "adapter": "vecpress.flat"}]))
    monkeypatch.setattr(configs, "_INSTALLED", tmp_path)  # as in a wheel: vecpress/bench/grids
    assert configs.grid_dir() == tmp_path and list(builtin_grids()) == ["mine"]
    assert load_grid("mine")[0]["name"] == "a"
    monkeypatch.setattr(configs, "_INSTALLED", tmp_path / "absent")
    monkeypatch.setattr(configs, "_SOURCE", tmp_path / "absent")
    assert configs.grid_dir() is None and builtin_grids() == {}
    with pytest.raises(FileNotFoundError, match="none found"):
        load_grid("smoke")
    assert load_grid(str(tmp_path / "mine.json"))  # paths still work


def test_grid_file_extends_and_excludes(tmp_path):
    (tmp_path / "base.json").write_text(json.dumps([
        {"name": "a", "adapter": "vecpress.flat"}, {"name": "b", "adapter": "faiss.flat"}]))
    (tmp_path / "child.json").write_text(json.dumps({
        "description": "base without b, plus c", "extends": "base.json", "exclude": ["b"],
        "configs": [{"name": "c", "adapter": "faiss.flat"}]}))
    assert [c["name"] for c in load_grid(str(tmp_path / "child.json"))] == ["a", "c"]
    scifact = [c["name"] for c in load_grid("scifact")]  # extends the built-in "default"
    assert "faiss-ivf64-pq48" in scifact and "faiss-ivf1024-pq48" not in scifact
    assert scifact[:3] == [c["name"] for c in load_grid("default")][:3]
    bad = {"typo.json": {"extends": "base.json", "exclude": ["zz"]},
           "loop.json": {"extends": "loop.json"},
           "orphan.json": {"exclude": ["a"], "configs": []},
           "keys.json": {"config": []}}
    for name, body in bad.items():
        (tmp_path / name).write_text(json.dumps(body))
    with pytest.raises(ValueError, match=r"'exclude' names \['zz'\]"):
        load_grid(str(tmp_path / "typo.json"))
    with pytest.raises(ValueError, match="extends itself"):
        load_grid(str(tmp_path / "loop.json"))
    with pytest.raises(ValueError, match="'exclude' needs 'extends'"):
        load_grid(str(tmp_path / "orphan.json"))
    with pytest.raises(ValueError, match="a list of configs or an object"):
        load_grid(str(tmp_path / "keys.json"))


def test_matryoshka_adapter_rerank_setting(sample):
    import vecpress as vp
    from vecpress.bench.adapters import VpMatryoshka

    x, q = sample.base[:2000], sample.queries[:20]
    ad = VpMatryoshka(x.shape[1], "ip", 1, prefix=64)
    ad.add(x)
    ref = vp.MatryoshkaIndex(x.shape[1], "ip", dims=(64, x.shape[1]), threads=1)
    ref.add(x)
    assert np.array_equal(ad.search(q, 10, rerank=30), ref.search(q, 10, rerank=30)[1])
    assert not np.array_equal(ref.search(q, 10, rerank=10)[1], ref.search(q, 10, rerank=300)[1])


def test_training_sample_depends_on_seed_and_size_only(sample):
    x = sample.base
    a = training_sample(x, 300, seed=0)
    training_sample(x, 100, seed=0)  # another config's draw in between changes nothing
    assert a.shape == (300, x.shape[1]) and np.array_equal(training_sample(x, 300, seed=0), a)
    assert not np.array_equal(training_sample(x, 300, seed=1), a)
    assert training_sample(x, 10 ** 6, seed=0) is x


def test_ground_truth_is_computed_and_cached(sample, tmp_path):
    ds = Dataset("s", sample.base[:1000], sample.queries[:20])
    gt = ground_truth(ds, 10, cache=tmp_path)
    exact = np.argsort(-(ds.queries @ ds.base.T), axis=1, kind="stable")[:, :10]
    assert recalls(gt, exact, ks=(10,))["recall@10"] == 1.0
    files = list(tmp_path.glob("gt-s-*.npy"))
    assert len(files) == 1 and np.array_equal(np.load(files[0]), gt)
    again = Dataset("s", ds.base, ds.queries)
    assert np.array_equal(ground_truth(again, 10, cache=tmp_path), gt)


def test_hdf5_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(50, 8)), rng.normal(size=(4, 8))
    with h5py.File(tmp_path / "toy-angular.hdf5", "w") as f:
        f["train"], f["test"] = train, test
        f["neighbors"] = np.zeros((4, 10), dtype=np.int32)
        f.attrs["distance"] = "angular"
    ds = open_dataset(str(tmp_path / "toy-angular.hdf5"), max_queries=3)
    assert ds.metric == "ip" and ds.queries.shape == (3, 8) and ds.gt_ids.shape == (3, 10)
    assert np.allclose(np.linalg.norm(ds.base, axis=1), 1.0, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="pass 'sample'"):
        open_dataset(str(tmp_path / "nothing"))


def test_missing_library_or_broken_config_is_recorded_not_fatal(sample, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # import hnswlib -> ImportError
    ds = Dataset("s", sample.base[:500], sample.queries[:10])
    grid = validate_grid([{"name": "exact", "adapter": "vecpress.flat"},
                          {"name": "hnsw", "adapter": "hnswlib.hnsw"},
                          {"name": "bad", "adapter": "vecpress.matryoshka",
                           "params": {"prefix": 999}}])
    recs = run_benchmark(ds, grid, None, repeats=1, latency_queries=2, progress=False,
                         cache=tmp_path)
    by = {r["config"]["name"]: r for r in recs}
    assert by["hnsw"]["status"] == "skipped" and "hnswlib is not installed" in by["hnsw"]["reason"]
    # a config that fails is recorded with its error; the run goes on
    assert by["bad"]["status"] == "error" and "prefix=999" in by["bad"]["reason"]
    assert by["exact"]["status"] == "ok" and by["exact"]["recall@10"] == 1.0


def test_smoke_grid_on_sample_writes_json_markdown_and_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VECPRESS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    # one thread: on a busy machine, faiss's spinning OpenMP threads make training crawl
    rc = vecpress_main(["bench", "--grid", "smoke", "--queries", "100", "--latency-queries", "10",
                        "--repeats", "1", "--train-size", "2000", "--threads", "1",
                        "--out", str(out), "--no-progress"])
    assert rc == 0
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    ok = [r for r in recs if r["status"] == "ok"]
    assert {r["status"] for r in recs} <= {"ok", "skipped"}, [r.get("reason") for r in recs]
    assert len(ok) >= 10
    for r in ok:
        assert OK_KEYS <= set(r), OK_KEYS - set(r)
        assert r["dataset"]["name"] == "wordnet-minilm-sample" and r["dataset"]["queries"] == 100
        assert r["qps_batch"] > 0 and r["qps_batch1"] > 0
        assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"]
        assert all(0.0 <= r[f"recall@{k}"] <= 1.0 for k in (1, 10, 100))
        assert r["bytes_per_vector"] > 0 and r["total_bytes"] > 0
        assert r["machine"]["simd_level"] and "faiss-cpu" in r["machine"]["libraries"]
    by = {r["label"]: r for r in ok}
    assert by["vp-flat"]["recall@100"] == 1.0
    assert by["vp-binary-rerank"]["bytes_per_vector"] == 384 / 8 + 4 * 384
    # derived figures of the former bench scripts: encode rate, scan rate, code error
    assert by["vp-binary-rerank"]["code_bytes"] == 384 / 8
    assert by["vp-mat64-raw rerank=50"]["code_bytes"] == 4 * 64
    assert by["vp-flat"]["scan_GBps"] == pytest.approx(
        4 * 384 * 5000 * by["vp-flat"]["qps_batch"] / 1e9)
    assert by["vp-flat"]["add_vps"] > 0 and by["vp-flat"]["mse"] is None
    assert 0 < by["vp-pq32x4"]["mse"] < by["vp-rq2x8"]["mse"] < 1  # unit vectors
    assert by["vp-flat"]["machine"]["memory_bandwidth_GBps"] > 0
    if "faiss-flat" in by:  # faiss installed
        assert by["faiss-flat"]["recall@10"] == 1.0
        # same sign codes and rescoring: vecpress binary+rerank and faiss BinaryFlat + numpy agree
        assert by["vp-binary-rerank"]["recall@10"] == pytest.approx(
            by["faiss-binary-rerank"]["recall@10"], abs=0.01)
        assert 0 < by["faiss-pq16x6"]["mse"] < 1 and by["faiss-hnsw-M8 efSearch=16"]["mse"] is None
        assert by["faiss-hnsw-M8 efSearch=16"]["scan_GBps"] is None
    md = (out / "results.md").read_text()
    assert md.startswith("# vecpress benchmark: wordnet-minilm-sample")
    assert all(f"| {label} |" in md for label in by)
    assert "| train ratio | add ratio |" in md and "| MSE |" in md
    for png in ("recall_qps.png", "recall_bytes.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "results.jsonl" in capsys.readouterr().out


@pytest.mark.shared_data
def test_scifact_ndcg_through_the_harness(tmp_path):
    if not (SHARED / "scifact-minilm" / "base.npy").exists():
        pytest.skip("../shared/data/scifact-minilm is absent")
    ds = open_dataset(str(SHARED / "scifact-minilm"))
    grid = validate_grid([{"name": "exact", "adapter": "vecpress.flat"},
                          {"name": "faiss", "adapter": "faiss.flat"}])
    recs = run_benchmark(ds, grid, None, repeats=1, latency_queries=2, batch=300,
                         progress=False, cache=tmp_path)
    for r in recs:
        assert round(r["ndcg@10"], 3) == 0.645, r["ndcg@10"]  # published MTEB figure 0.6451
