"""The reference HTTP service (vecpress.serve) against real uvicorn servers on real sockets,
driven with httpx: results equal in-process searches exactly, every library error reaches
the client as its 4xx with its message, concurrent clients get no errors, mmap mode works
through the command line."""
from __future__ import annotations

import base64
import contextlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import vecpress as vp
from vecpress import errors

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
serve = pytest.importorskip("vecpress.serve")  # needs fastapi

DIM, N = 32, 2000
HAS_FILTER = hasattr(vp, "IdSelector")
needs_filter = pytest.mark.skipif(not HAS_FILTER, reason="this vecpress has no filtered search "
                                                         "(vecpress.IdSelector, issue 13) yet")


# ---- data and index files ---------------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Base (2000, 32) and queries (20, 32), float32."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal((N, DIM), dtype=np.float32),
            rng.standard_normal((20, DIM), dtype=np.float32))


@pytest.fixture(scope="module")
def files(data, tmp_path_factory) -> dict[str, Path]:
    """One saved file per index type: exact (ip), IVF-PQ 4-bit + rerank (ip), PQ 8-bit +
    rerank (l2, so padding is +inf), a Matryoshka cascade (cosine, one rerank per stage),
    binary codes + rerank, and an untrained IVF."""
    base, _ = data
    d = tmp_path_factory.mktemp("serve")
    flat = vp.FlatIndex(DIM, "ip", threads=1)
    ivf = vp.IVFIndex(DIM, 16, vp.ProductQuantizer(DIM, 8, 4), "ip", nprobe=4, rerank=50,
                      threads=1)
    pq = vp.PQIndex(DIM, "l2", M=8, nbits=8, rerank=20, threads=1)
    mat = vp.MatryoshkaIndex(DIM, "cosine", dims=(8, 16, DIM), rerank=(200, 50), threads=1)
    binary = vp.BinaryIndex(DIM, rerank=50, query="float", threads=1)
    out = {}
    for name, index in (("flat", flat), ("ivf", ivf), ("pq", pq), ("mat", mat),
                        ("binary", binary)):
        if not index.is_trained:
            index.train(base)
        index.add(base)
        out[name] = d / f"{name}.vp"
        index.save(out[name])
    out["untrained"] = d / "untrained.vp"
    vp.IVFIndex(DIM, 16, vp.ProductQuantizer(DIM, 8, 4), "ip").save(out["untrained"])
    return out


# ---- servers ------------------------------------------------------------------------------
@contextlib.contextmanager
def running(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread on a free port; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@contextlib.contextmanager
def cli_server(*args: str) -> Iterator[str]:
    """``python -m vecpress.cli serve ARGS --port 0`` in a subprocess; yields its URL."""
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(Path(vp.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "vecpress.cli", "serve", *args, "--port", "0",
                             "--no-access-log"], stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    found = threading.Event()

    def drain() -> None:  # keeps reading so the server never blocks on a full pipe
        for line in proc.stderr:
            lines.append(line)
            if "Uvicorn running on" in line:
                found.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert found.wait(60), f"server did not start: {''.join(lines)}"
        port = re.search(r"Uvicorn running on http://[^ ]+:(\d+)", "".join(lines)).group(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(5)
        proc.stderr.close()


@pytest.fixture(scope="module")
def urls(files) -> Iterator[dict[str, str]]:
    """Read-only servers (no test here writes to them), one per index file."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(running(serve.create_app(files[name])))
               for name in ("flat", "ivf", "pq", "mat", "binary", "untrained")}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def b64(x: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode()


def as_arrays(body: dict) -> tuple[np.ndarray, np.ndarray]:
    """A /search response as (scores float32 with null -> nan, ids int64)."""
    scores = np.array([[np.nan if s is None else s for s in row] for row in body["scores"]],
                      dtype=np.float32)
    return scores, np.array(body["ids"], dtype=np.int64)


def assert_same(body: dict, expected: tuple[np.ndarray, np.ndarray]) -> None:
    """The response equals the in-process result exactly (padding: null <-> +-inf)."""
    scores, ids = as_arrays(body)
    ref_scores, ref_ids = expected
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(np.isnan(scores), ~np.isfinite(ref_scores))
    fin = np.isfinite(ref_scores)
    np.testing.assert_array_equal(scores[fin], ref_scores[fin])


# ---- search ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, params", [
    ("flat", {}), ("flat", {"threads": 2}),
    ("ivf", {}), ("ivf", {"nprobe": 9, "rerank": 10}), ("ivf", {"rerank": 0}),
    ("pq", {}), ("pq", {"rerank": 0}),
    ("mat", {}), ("mat", {"rerank": [100, 20]}), ("binary", {}), ("binary", {"rerank": 5}),
])
def test_search_equals_in_process(urls, files, data, client, name, params):
    _, q = data
    ref = vp.load(files[name]).search(q, 10, **params)
    r = client.post(f"{urls[name]}/search", json={"queries": q.tolist(), "k": 10, **params})
    assert r.status_code == 200, r.text
    assert_same(r.json(), ref)
    r = client.post(f"{urls[name]}/search", json={"queries_b64": b64(q), "k": 10, **params})
    assert r.status_code == 200, r.text
    assert_same(r.json(), ref)


def test_padding_is_null(urls, files, data, client):
    """k past the index size pads with id -1 and score null (+inf for l2 in-process)."""
    _, q = data
    ref = vp.load(files["pq"]).search(q[:2], N + 5)
    assert np.isposinf(ref[0][:, -5:]).all()
    r = client.post(f"{urls['pq']}/search", json={"queries_b64": b64(q[:2]), "k": N + 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scores"][0][-5:] == [None] * 5 and body["ids"][1][-5:] == [-1] * 5
    assert_same(body, ref)


@needs_filter
@pytest.mark.parametrize("name", ["flat", "ivf", "pq", "mat", "binary"])
def test_filter(urls, files, data, client, name):
    _, q = data
    rng = np.random.default_rng(3)
    allow = np.sort(rng.choice(N, N // 10, replace=False)).astype(np.int64)
    deny = allow[: len(allow) // 2]
    index = vp.load(files[name])
    cases = [({"allow": allow.tolist()}, allow),
             ({"allow": allow.tolist(), "deny": deny.tolist()}, vp.IdSelector(allow=allow, deny=deny)),
             ({"deny": deny.tolist()}, vp.IdSelector(deny=deny))]
    for spec, lib_filter in cases:
        r = client.post(f"{urls[name]}/search", json={"queries": q.tolist(), "k": 10,
                                                      "filter": spec})
        assert r.status_code == 200, r.text
        _, ids = as_arrays(r.json())
        passing = np.setdiff1d(allow if "allow" in spec else np.arange(N),
                               deny if "deny" in spec else [])
        assert np.isin(ids, passing).all(), spec
        assert_same(r.json(), index.search(q, 10, filter=lib_filter))


@pytest.mark.skipif("filter" in inspect.signature(vp.FlatIndex.search).parameters,
                    reason="this vecpress has filtered search")
def test_filter_without_library_support_is_501(urls, data, client):
    r = client.post(f"{urls['flat']}/search", json={"queries": data[1][:1].tolist(), "k": 3,
                                                    "filter": {"allow": [1, 2]}})
    assert r.status_code == 501 and "no filtered search" in r.json()["detail"]


# ---- writes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["flat", "ivf"])
def test_add_search_remove(files, data, client, name):
    base, _ = data
    app = serve.create_app(vp.load(files[name]))
    with running(app) as url:
        v = (base[0] + base[1]).reshape(1, -1)  # a new vector, its own best match under ip
        r = client.post(f"{url}/add", json={"vectors_b64": b64(v), "ids": [10_000]})
        assert r.status_code == 200 and r.json() == {"ids": [10_000]}
        r = client.post(f"{url}/add", json={"vectors": (2 * v).tolist()})  # auto id
        assert r.status_code == 200 and r.json() == {"ids": [10_001]}
        r = client.post(f"{url}/search", json={"queries": v.tolist(), "k": 2})
        assert sorted(r.json()["ids"][0]) == [10_000, 10_001]
        assert client.get(f"{url}/health").json() == {"status": "ok", "n": N + 2}
        r = client.post(f"{url}/remove", json={"ids": [10_001, 10_000]})
        assert r.status_code == 200 and r.json() == {"removed": 2}
        r = client.post(f"{url}/search", json={"queries": v.tolist(), "k": 50})
        assert not {10_000, 10_001} & set(r.json()["ids"][0])
        assert client.get(f"{url}/stats").json()["n"] == N
        # and the served index answers like the untouched file again
        r = client.post(f"{url}/search", json={"queries": base[:5].tolist(), "k": 10})
        assert_same(r.json(), vp.load(files[name]).search(base[:5], 10))


def test_save(files, data, client, tmp_path):
    base, _ = data
    path = tmp_path / "flat.vp"
    shutil.copy(files["flat"], path)
    with running(serve.create_app(path)) as url:
        assert client.post(f"{url}/add", json={"vectors": base[:3].tolist()}).status_code == 200
        r = client.post(f"{url}/save")
        assert r.status_code == 200, r.text
        assert r.json()["path"] == str(path) and r.json()["bytes"] == path.stat().st_size
    assert len(vp.load(path)) == N + 3
    other = tmp_path / "elsewhere.vp"
    with running(serve.create_app(path, save_path=other)) as url:
        assert client.post(f"{url}/save").status_code == 200
    assert len(vp.load(other)) == N + 3
    with running(serve.create_app(vp.load(path))) as url:  # an object, no file: nothing to save
        r = client.post(f"{url}/save")
        assert r.status_code == 409 and "no file to save to" in r.json()["detail"]


# ---- stats / health -----------------------------------------------------------------------
def test_stats_and_health(urls, client):
    assert client.get(f"{urls['ivf']}/health").json() == {"status": "ok", "n": N}
    s = client.get(f"{urls['ivf']}/stats").json()
    assert (s["class"], s["dim"], s["metric"], s["n"], s["mmap"]) == ("IVFIndex", DIM, "ip", N,
                                                                      False)
    assert s["nlist"] == 16 and s["nprobe"] == 4 and s["rerank"] == 50
    assert s["bytes_per_vector"] > 0 and s["memory_report"]["store_in_ram"] == 4 * DIM
    assert s["uptime_s"] > 0 and s["requests"]["GET /stats"] >= 1
    assert client.get(f"{urls['flat']}/stats").json()["bytes_per_vector"] == 4 * DIM


# ---- errors -----------------------------------------------------------------------------------
ROW = [0.5] * DIM

ERROR_CASES = [
    # (server, route, json body or raw bytes, status, error name, message fragment)
    ("flat", "search", {"queries": [[0.5] * 31], "k": 3}, 422, "DimensionError",
     "dimension 31, but the index has dimension 32"),
    ("flat", "search", {"queries": [ROW, ROW[:5]], "k": 3}, 422, "ShapeError", "same length"),
    ("flat", "search", {"queries": [], "k": 3}, 422, "EmptyInputError", "pass at least one"),
    ("flat", "search", b'{"queries": [[NaN' + b", 1" * (DIM - 1) + b']], "k": 3}', 422,
     "NonFiniteError", "NaN or infinity"),  # Python's json reads NaN; the index refuses it
    ("flat", "search", {"queries": [[1e300] * DIM], "k": 3}, 422, "NonFiniteError",
     "NaN or infinity"),
    ("flat", "search", {"queries": [ROW], "k": 0}, 422, "ParameterError", "k must be >= 1"),
    ("flat", "search", {"queries": [ROW], "k": 3, "rerank": 5}, 422, "ParameterError",
     "rerank does not apply"),
    ("flat", "search", {"queries": [ROW], "k": 3, "nprobe": 5}, 422, "ParameterError",
     "takes no nprobe"),
    ("flat", "search", {"queries": [ROW], "k": 3, "threads": -1}, 422, "ParameterError",
     "threads"),
    ("ivf", "search", {"queries": [ROW], "k": 3, "nprobe": 0}, 422, "ParameterError",
     "nprobe must be in"),
    ("ivf", "search", {"queries": [ROW], "k": 3, "rerank": [5, 10]}, 422, "ParameterTypeError",
     "rerank must be an integer"),  # a list is only a rerank for MatryoshkaIndex
    ("flat", "search", {"queries": [ROW], "k": 3, "filter": {}}, 422, "ServiceError",
     "filter needs"),
    ("flat", "search", {"queries": [[1e30] * DIM], "k": 3}, 422, "ParameterError", "L2 norm"),
    ("flat", "search", {"queries_b64": "not base64!", "k": 3}, 422, "ServiceError",
     "not valid base64"),
    ("flat", "search", {"queries_b64": base64.b64encode(b"\0" * 12).decode(), "k": 3}, 422,
     "ServiceError", "not a whole number of 32-d float32 vectors"),
    ("flat", "search", {"queries": [ROW], "queries_b64": "", "k": 3}, 422, "ServiceError",
     "exactly one of queries"),
    ("flat", "search", {"k": 3}, 422, "ServiceError", "exactly one of queries"),
    ("flat", "search", {"queries": [ROW] * 5, "k": 10**6}, 413, "ServiceError",
     "over the service's limit"),
    ("flat", "remove", {"ids": [123_456]}, 404, "UnknownIdError", "not in the index"),
    ("flat", "add", {"vectors": [ROW], "ids": [7]}, 409, "DuplicateIdError",
     "already in the index"),
    ("flat", "add", {"vectors": [ROW, ROW], "ids": [50_000, 50_000]}, 409, "DuplicateIdError",
     "duplicates"),
    ("flat", "add", {"vectors": [ROW], "ids": [1, 2]}, 422, "ShapeError", ""),
    ("untrained", "search", {"queries": [ROW], "k": 3}, 409, "NotTrainedError",
     "must be trained first"),
    ("untrained", "add", {"vectors": [ROW]}, 409, "NotTrainedError", "must be trained first"),
]


@pytest.mark.parametrize("name, route, body, status, error, fragment", ERROR_CASES,
                         ids=[f"{c[1]}-{c[4]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_library_errors_map_to_4xx(urls, client, name, route, body, status, error, fragment):
    if isinstance(body, bytes):
        r = client.post(f"{urls[name]}/{route}", content=body,
                        headers={"content-type": "application/json"})
    else:
        r = client.post(f"{urls[name]}/{route}", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and fragment in r.json()["detail"], r.text


@pytest.mark.parametrize("content, ctype", [
    (b"{garbage", "application/json"), (b"garbage", "text/plain"), (b"[1, 2]", "application/json"),
    (b'{"queries": "abc", "k": 3}', "application/json"),
    (b'{"queries": [[' + b", ".join([b'"1.0"'] * DIM) + b"]], \"k\": 3}", "application/json"),
    (b'{"queries": [[0.5]], "k": 1.5}', "application/json"),
    (b'{"queries": [[0.5]], "k": true}', "application/json"),
    (b'{"querys": [[0.5]], "k": 3}', "application/json"),
    (b'{"queries": [[0.5]], "k": 3, "filter": {"allw": [1]}}', "application/json"),
    (b'{"queries": [[0.5]], "k": 3, "filter": {"allow": [-1]}}', "application/json"),
    (b'{"queries": [[0.5]], "k": 3, "filter": {"allow": [18446744073709551616]}}',
     "application/json"),
    (b"", "application/json"),
])
def test_malformed_requests_are_422(urls, client, content, ctype):
    r = client.post(f"{urls['flat']}/search", content=content, headers={"content-type": ctype})
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_remove_and_add_validation(urls, client):
    for route, body in (("remove", {"ids": [-1]}), ("remove", {"ids": "x"}), ("remove", {}),
                        ("add", {"vectors": [ROW], "ids": [2**63]})):
        r = client.post(f"{urls['flat']}/{route}", json=body)
        assert r.status_code == 422, (route, body, r.text)


def test_body_too_large_is_413(files, client):
    with running(serve.create_app(files["flat"], max_body_bytes=50_000)) as url:
        r = client.post(f"{url}/add", json={"vectors": [ROW] * 500})  # ~100 kB, Content-Length
        assert r.status_code == 413 and "over the service's limit" in r.json()["detail"]

        def chunks():  # no Content-Length: counted while it streams
            for _ in range(40):
                yield b" " * 2_000
        r = client.post(f"{url}/search", content=chunks(), headers={"content-type":
                                                                    "application/json"})
        assert r.status_code == 413
        assert client.get(f"{url}/health").status_code == 200  # the server carries on


def test_status_for_every_library_error():
    """The mapping itself, for every class in vecpress.errors (DTypeError cannot be provoked
    over HTTP: the request models admit only JSON numbers, so vectors are always float)."""
    expected = {
        "UnknownIdError": 404, "DuplicateIdError": 409, "NotTrainedError": 409,
        "IndexNotEmptyError": 409, "DTypeError": 422, "ShapeError": 422, "DimensionError": 422,
        "EmptyInputError": 422, "NonFiniteError": 422, "ParameterError": 422,
        "ParameterTypeError": 422, "GPUUnavailableError": 503, "DeviceError": 503,
        "KernelError": 500, "FormatError": 500, "VersionError": 500, "VecpressError": 500,
    }
    classes = {n: c for n, c in vars(errors).items()
               if isinstance(c, type) and issubclass(c, errors.VecpressError)}
    assert set(classes) == set(expected)
    for n, c in classes.items():
        assert serve.status_for(c("message")) == expected[n], n


def test_no_500_after_the_error_tests(urls, client):
    for url in urls.values():
        assert "500" not in client.get(f"{url}/stats").json()["responses"]


# ---- concurrency -----------------------------------------------------------------------------
def test_concurrent_clients(files, data, client):
    """8 threads searching while 2 threads add and remove, each with its own connection: no
    errors, and searches return what a serial search returns (the added vectors are too
    short to enter any top 10 under ip)."""
    base, q = data
    ref = vp.load(files["flat"]).search(q, 10)
    stop = threading.Event()
    bad: list[str] = []

    def searcher(i: int) -> int:
        with httpx.Client(timeout=30) as c:
            for j in range(25):
                row = (i + j) % len(q)
                r = c.post(f"{url}/search", json={"queries_b64": b64(q[row:row + 1]), "k": 10})
                if r.status_code != 200:
                    bad.append(r.text)
                    continue
                got = np.array(r.json()["ids"][0])
                if not np.array_equal(got, ref[1][row]):
                    bad.append(f"query {row}: {got} != {ref[1][row]}")
        return 25

    def writer(w: int) -> int:
        done, next_id = 0, 100_000 * (w + 1)
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                v = 1e-3 * base[done % N: done % N + 4]
                ids = list(range(next_id, next_id + 4))
                next_id += 4
                for route, body, want in (("add", {"vectors_b64": b64(v), "ids": ids},
                                           {"ids": ids}),
                                          ("remove", {"ids": ids}, {"removed": 4})):
                    r = c.post(f"{url}/{route}", json=body)
                    if r.status_code != 200 or r.json() != want:
                        bad.append(f"{route}: {r.status_code} {r.text}")
                done += 1
        return done

    with running(serve.create_app(vp.load(files["flat"]))) as url:
        with ThreadPoolExecutor(10) as pool:
            writes = [pool.submit(writer, w) for w in range(2)]
            searches = [pool.submit(searcher, i) for i in range(8)]
            assert sum(f.result() for f in searches) == 200
            stop.set()
            assert all(f.result() > 0 for f in writes)
        assert not bad, bad[:5]
        assert client.get(f"{url}/health").json()["n"] == N
        assert "500" not in client.get(f"{url}/stats").json()["responses"]


# ---- the command line, memory-mapped --------------------------------------------------------
def test_cli_serve_mmap(files, data, client, tmp_path):
    base, q = data
    path = tmp_path / "ivf.vp"
    shutil.copy(files["ivf"], path)
    ref = vp.load(path, mmap=True).search(q, 10)
    with cli_server(str(path), "--mmap") as url:
        s = client.get(f"{url}/stats").json()
        assert s["mmap"] is True and s["class"] == "IVFIndex"
        assert s["memory_report"]["store_in_ram"] == 0.0  # the rerank store stays on disk
        r = client.post(f"{url}/search", json={"queries_b64": b64(q), "k": 10})
        assert r.status_code == 200, r.text
        assert_same(r.json(), ref)
        r = client.post(f"{url}/add", json={"vectors": base[:2].tolist()})
        assert r.json() == {"ids": [N, N + 1]}
        assert client.post(f"{url}/remove", json={"ids": [0]}).json() == {"removed": 1}
        r = client.post(f"{url}/search", json={"queries": base[:1].tolist(), "k": 1})
        assert r.json()["ids"] == [[N]]  # the copy of row 0 that was added
        assert client.post(f"{url}/save").status_code == 200  # over the file it maps
    saved = vp.load(path)
    assert len(saved) == N + 1 and 0 not in saved.ids and N + 1 in saved.ids


def test_cli_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(vp.__file__).parents[1])}
    r = subprocess.run([sys.executable, "-m", "vecpress.cli", "serve", str(tmp_path / "none.vp")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "error:" in r.stderr
    # without the serve extra: a message that says what to install
    code = ("import sys; sys.modules['fastapi'] = None\n"
            "from vecpress.cli import main\n"
            f"sys.exit(main(['serve', {str(tmp_path / 'none.vp')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 2 and 'pip install "vecpress[serve]"' in r.stderr, r.stderr
