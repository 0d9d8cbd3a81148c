import numpy as np
import pytest

import vecpress as vp
from vecpress import ingest


def write_vecs(path, a):
    d = a.shape[1]
    rows = np.empty((a.shape[0], 4 + d * a.dtype.itemsize), np.uint8)
    rows[:, :4] = np.frombuffer(np.int32(d).tobytes(), np.uint8)
    rows[:, 4:] = a.view(np.uint8).reshape(a.shape[0], -1)
    rows.tofile(path)


def test_vecs_round_trip(tmp_path, rng):
    f = rng.standard_normal((20, 12)).astype(np.float32)
    write_vecs(tmp_path / "a.fvecs", f)
    np.testing.assert_array_equal(ingest.read_fvecs(tmp_path / "a.fvecs"), f)
    np.testing.assert_array_equal(ingest.read_fvecs(tmp_path / "a.fvecs", count=5), f[:5])
    b = rng.integers(0, 256, (7, 16)).astype(np.uint8)
    write_vecs(tmp_path / "a.bvecs", b)
    np.testing.assert_array_equal(ingest.read_bvecs(tmp_path / "a.bvecs"), b.astype(np.float32))
    i = rng.integers(0, 1000, (5, 10)).astype(np.int32)
    write_vecs(tmp_path / "a.ivecs", i)
    np.testing.assert_array_equal(ingest.read_ivecs(tmp_path / "a.ivecs"), i)
    np.testing.assert_array_equal(ingest.read_vectors(tmp_path / "a.fvecs"), f)
    (tmp_path / "bad.fvecs").write_bytes(np.int32(12).tobytes() + b"\0" * 10)
    with pytest.raises(vp.FormatError, match="not a valid"):
        ingest.read_fvecs(tmp_path / "bad.fvecs")


def test_npy_and_hdf5(tmp_path, rng):
    a = rng.standard_normal((30, 8)).astype(np.float16)
    np.save(tmp_path / "a.npy", a)
    got = ingest.read_vectors(tmp_path / "a.npy")
    assert got.dtype == np.float32 and np.array_equal(got, a.astype(np.float32))
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "ann.hdf5", "w") as f:
        f.create_dataset("train", data=a.astype(np.float32))
        f.create_dataset("test", data=a[:3].astype(np.float32))
        f.create_dataset("neighbors", data=np.arange(30, dtype=np.int32).reshape(3, 10))
        f.attrs["distance"] = "angular"
    d = ingest.read_hdf5(tmp_path / "ann.hdf5")
    assert d["metric"] == "cosine" and d["train"].shape == (30, 8) and d["neighbors"].dtype == np.int64
    with pytest.raises(vp.FormatError, match="unknown vector file type"):
        ingest.read_vectors(tmp_path / "a.txt")


class CharTrigramEncoder:
    """A small real encoder: hashed character trigrams, L2-normalised."""

    def __init__(self, dim=64):
        self.dim = dim
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            t = f"  {t.lower()}  "
            for j in range(len(t) - 2):
                out[i, hash(t[j:j + 3]) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_add_texts_in_batches(sample):
    texts = [str(t) for t in sample.extra["query_text"]]
    enc = CharTrigramEncoder()
    idx = vp.FlatIndex(64, "cosine")
    ids = ingest.add_texts(idx, enc, texts, batch_size=32, progress=False)
    assert len(idx) == len(texts) and enc.calls == (len(texts) + 31) // 32
    np.testing.assert_array_equal(ids, np.arange(len(texts)))
    _, found = idx.search(enc.encode([texts[17]]), 1)
    assert found[0, 0] == 17
    with pytest.raises(TypeError, match="encode"):
        ingest.add_texts(idx, object(), texts)
    with pytest.raises(vp.DimensionError):
        ingest.add_texts(vp.FlatIndex(32), enc, texts[:3], progress=False)
