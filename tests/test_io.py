"""save/load round trips and every way a file can be bad."""
import os

import numpy as np
import pytest

import vecpress as vp
from test_index import KINDS, built
from vecpress import io as vio


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(sample, tmp_path, kind):
    idx = built(kind, sample)
    idx.remove([3, 4, 5])
    path = tmp_path / "idx.vp"
    idx.save(path)
    back = vp.load(path)
    assert type(back) is type(idx) and len(back) == len(idx) == 4997
    s1, i1 = idx.search(sample.queries, 10)
    s2, i2 = back.search(sample.queries, 10)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2)
    back.add(sample.base[:1])  # a loaded index stays usable and keeps its id counter
    assert back.ids[-1] == 5000
    mm = vp.load(path, mmap=True)
    np.testing.assert_array_equal(mm.search(sample.queries, 10)[1], i1)


def test_truncated_corrupted_foreign_and_version(sample, tmp_path):
    idx = built("flat", sample)
    path = tmp_path / "a.vp"
    idx.save(path)
    blob = path.read_bytes()
    for cut in (0, 5, 30, len(blob) // 2, len(blob) - 1):
        bad = tmp_path / f"cut{cut}.vp"
        bad.write_bytes(blob[:cut])
        with pytest.raises(vp.FormatError):
            vp.load(bad)
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    (tmp_path / "flip.vp").write_bytes(bytes(flipped))
    with pytest.raises(vp.FormatError, match="checksum"):
        vp.load(tmp_path / "flip.vp")
    (tmp_path / "foreign.npy").write_bytes(b"\x93NUMPY" + b"\0" * 200)
    with pytest.raises(vp.FormatError, match="not a vecpress index"):
        vp.load(tmp_path / "foreign.npy")
    newer = bytearray(blob)
    newer[8:12] = (vio.FORMAT_VERSION + 1).to_bytes(4, "little")
    (tmp_path / "v2.vp").write_bytes(bytes(newer))
    with pytest.raises(vp.VersionError, match="format version"):
        vp.load(tmp_path / "v2.vp")
    with pytest.raises(vp.FormatError):
        vp.load(tmp_path / "missing.vp")


def test_unknown_class_is_format_error(tmp_path):
    vio.write_arrays(tmp_path / "x.vp", "NoSuchIndex", {"dim": 2}, {"ids": np.zeros(0, np.int64)})
    with pytest.raises(vp.FormatError, match="unknown class"):
        vp.load(tmp_path / "x.vp")


def test_inconsistent_contents_is_format_error(tmp_path):
    vio.write_arrays(tmp_path / "x.vp", "FlatIndex",
                     {"dim": 4, "metric": "ip", "next_id": 3},
                     {"ids": np.arange(3, dtype=np.int64), "vectors": np.zeros((2, 4), np.float32)})
    with pytest.raises(vp.FormatError, match="inconsistent"):
        vp.load(tmp_path / "x.vp")


def test_failed_save_keeps_old_file(sample, tmp_path, monkeypatch):
    idx = built("flat", sample)
    path = tmp_path / "keep.vp"
    idx.save(path)
    before = path.read_bytes()

    def disk_failure(fd):  # fault injection: the sync of the new file fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_failure)
    idx.add(sample.base[:5])
    with pytest.raises(OSError, match="No space"):
        idx.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.vp"]  # no temp file left behind
    assert len(vp.load(path)) == 5000
