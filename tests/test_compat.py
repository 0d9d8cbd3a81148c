"""Index files saved by vecpress 0.1.0 (tests/data/v0.1.0, made by make_fixtures.py there)
still load and search exactly as they did when they were written."""
from pathlib import Path

import numpy as np
import pytest

import vecpress as vp

DATA = Path(__file__).parent / "data" / "v0.1.0"
NAMES = sorted(p.stem for p in DATA.glob("*.vp"))


def test_fixtures_present():
    assert len(NAMES) == 8


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_v0_1_file_loads_and_searches_identically(name, mmap):
    expected = np.load(DATA / "expected.npz")
    idx = vp.load(DATA / f"{name}.vp", mmap=mmap)
    assert len(idx) == 590
    s, i = idx.search(expected["queries"], 7)
    np.testing.assert_array_equal(i, expected[f"{name}.ids"])
    np.testing.assert_allclose(s, expected[f"{name}.scores"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_v0_1_file_keeps_growing(name, tmp_path):
    """Auto ids continue after the largest stored id; a re-saved file loads again."""
    expected = np.load(DATA / "expected.npz")
    idx = vp.load(DATA / f"{name}.vp")
    new = idx.add(expected["queries"][:3])
    # 500 ids up to 1508, then 100 auto ids up to 1608: 0.1.0 wrote next_id = 1609.
    assert new.tolist() == [1609, 1610, 1611]
    idx.save(tmp_path / "again.vp")
    again = vp.load(tmp_path / "again.vp")
    np.testing.assert_array_equal(again.search(expected["queries"], 7)[1],
                                  idx.search(expected["queries"], 7)[1])
