from pathlib import Path

import numpy as np
import pytest

import vecpress
from vecpress.datasets import load_npy_dir, load_sample

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=vecpress.available_simd_levels())
def simd_level(request):
    """Runs a test once per SIMD level this machine can execute, then restores the default."""
    before = vecpress.simd_level()
    vecpress.set_simd_level(request.param)
    yield request.param
    vecpress.set_simd_level(before)


@pytest.fixture(scope="session")
def sample():
    return load_sample()


def shared_dataset(name: str, max_queries=None):
    path = SHARED / name
    if not (path / "base.npy").exists():
        pytest.skip(f"{path} is absent (shared data not available)")
    return load_npy_dir(path, max_queries)


@pytest.fixture(scope="session")
def wordnet():
    return shared_dataset("wordnet-minilm", 1000)


@pytest.fixture(scope="session")
def scifact():
    return shared_dataset("scifact-minilm")
