"""Coverage-guided fuzzing of ``vecpress.load`` with atheris (libFuzzer for Python).

Each input is taken as an index file whose checksum is then recomputed, so the fuzzer
explores the loader's checks rather than the CRC. It must raise FormatError or load into
an index that searches, adds and removes without error (vpfuzz.exercise); anything else,
or a warning, is a crash that libFuzzer reports with the input that caused it.

    pip install atheris
    PYTHONPATH=python python tests/fuzz/load_fuzzer.py NEW_CORPUS_DIR tests/fuzz/corpus \\
        -max_total_time=60 -rss_limit_mb=500

Give a scratch directory first: libFuzzer adds the inputs it finds to the first corpus
directory, and tests/fuzz/corpus (small saved files of every index type, written by
``python tests/fuzz/vpfuzz.py tests/fuzz/corpus``) should stay as committed.
"""
import os
import sys
import tempfile
import warnings
from pathlib import Path

import atheris
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
with atheris.instrument_imports(include=["vecpress", "vpfuzz"]):
    import vpfuzz

    import vecpress as vp

_PATH = Path(tempfile.mkdtemp(prefix="vp-fuzz-")) / "input.vp"
_RNG = np.random.default_rng(0)


def test_one_input(data: bytes) -> None:
    _PATH.write_bytes(vpfuzz.fix_crc(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            idx = vp.load(_PATH, mmap=len(data) % 2 == 1)
        except vp.FormatError:
            return
        vpfuzz.exercise(idx, _RNG)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    try:
        atheris.Fuzz()
    finally:
        try:
            os.unlink(_PATH)
        except OSError:
            pass


if __name__ == "__main__":
    main()
