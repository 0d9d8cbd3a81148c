"""Writes the index files in this folder with vecpress 0.1.0 (commit cc8152f, before the
Python-layer redesign), and the search results they must keep giving: the files are the
test that later versions still load what 0.1.0 saved. Do not regenerate them with a newer
vecpress; add a new folder for a new release instead.

    PYTHONPATH=python python tests/data/v0.1.0/make_fixtures.py
"""
from pathlib import Path

import numpy as np

import vecpress as vp

HERE = Path(__file__).parent
DIM = 32


def configs():
    return {
        "flat_l2": vp.FlatIndex(DIM, "l2"),
        "matryoshka_pca_cosine": vp.MatryoshkaIndex(DIM, "cosine", dims=(8, DIM), rerank=(20,),
                                                    rotation="pca"),
        "binary_asym_pca": vp.BinaryIndex(DIM, "ip", bits=16, threshold="median", rotation="pca",
                                          query="float", rerank=20),
        "binary_hamming": vp.BinaryIndex(DIM, "ip", rerank=0),
        "pq8_opq_rerank": vp.PQIndex(DIM, "ip", M=8, nbits=8, rotation="opq", rerank=20, niter=5),
        "pq4_l2": vp.PQIndex(DIM, "l2", M=16, nbits=4, niter=5),
        "rq8_l2": vp.RQIndex(DIM, "l2", M=4, nbits=8, beam=4),
        "rq4_groups_cosine_rerank": vp.RQIndex(DIM, "cosine", M=3, nbits=4, beam=2, groups=2,
                                               rerank=15),
    }


def main():
    sample = np.load(Path(vp.__file__).with_name("data") / "wordnet_minilm_sample.npz")
    base = np.ascontiguousarray(sample["base"][:600, :DIM], dtype=np.float32)
    queries = np.ascontiguousarray(sample["queries"][:20, :DIM], dtype=np.float32)
    ids = np.arange(600, dtype=np.int64) * 3 + 11
    expected = {"queries": queries}
    for name, idx in configs().items():
        if not idx.is_trained:
            idx.train(base)
        idx.add(base[:500], ids[:500])
        idx.remove(ids[10:20])
        idx.add(base[500:])  # auto ids continue after the largest id
        idx.save(HERE / f"{name}.vp")
        s, i = idx.search(queries, 7)
        expected[f"{name}.scores"], expected[f"{name}.ids"] = s, i
        print(f"{name}: {(HERE / f'{name}.vp').stat().st_size} bytes")
    np.savez(HERE / "expected.npz", **expected)


if __name__ == "__main__":
    main()
