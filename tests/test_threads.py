"""The GIL is released around kernels and worker exceptions reach Python."""
import threading
import time

import numpy as np
import pytest

import vecpress as vp
from vecpress import _core


def test_gil_released_during_search(rng):
    x = rng.standard_normal((60000, 256), dtype=np.float32)
    q = rng.standard_normal((256, 256), dtype=np.float32)
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t0 = time.perf_counter()
    _core.flat_search(x, q, 256, 0, 10, 1)
    single = time.perf_counter() - t0
    t.start()
    t0 = time.perf_counter()
    _core.flat_search(x, q, 256, 0, 10, 1)
    t1 = time.perf_counter()
    done.set()
    t.join()
    during = [s for s in ticks if t0 < s < t1]
    # with the GIL held the ticker could not run at all while the kernel runs
    assert single > 0.02
    assert len(during) >= 5


def test_worker_exception_is_raised_once():
    with pytest.raises(ValueError, match="task 5 failed"):
        _core.parallel_raise_test(100, 5, 2)
    _core.parallel_raise_test(100, -1, 2)  # no failure: no exception


def test_thread_setting_round_trip():
    before = vp.get_num_threads()
    vp.set_num_threads(1)
    assert vp.get_num_threads() == 1
    vp.set_num_threads(None)
    assert vp.get_num_threads() == _core.hardware_threads()
    vp.set_num_threads(before if before != _core.hardware_threads() else None)
    with pytest.raises(ValueError):
        vp.set_num_threads(-1)


def test_threads_give_identical_results(sample):
    a = vp.FlatIndex(384, threads=1)
    b = vp.FlatIndex(384, threads=2)
    a.add(sample.base)
    b.add(sample.base)
    np.testing.assert_array_equal(a.search(sample.queries, 10)[1], b.search(sample.queries, 10)[1])


def test_simd_level_controls(simd_level):
    assert vp.simd_level() == simd_level
    with pytest.raises(ValueError, match="not available"):
        vp.set_simd_level("neon-sve-9000")
