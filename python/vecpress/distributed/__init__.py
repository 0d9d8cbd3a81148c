"""Sharded build and search on Ray (``pip install "vecpress[ray]"``).

Train once, encode anywhere, shards own lists:

>>> import ray, vecpress as vp
>>> from vecpress.distributed import ShardedIVFIndex
>>> ray.init()                                   # or a cluster: RAY_ADDRESS=...
>>> ivf = vp.IVFIndex(384, nlist=1024, quantizer=vp.ProductQuantizer(384, 48, 8), rerank=100)
>>> ivf.train(sample)                            # on the driver, once
>>> index = ShardedIVFIndex.build(ivf, "base.npy", num_shards=4, encode_workers=2)
>>> scores, ids = index.search(queries, 10, nprobe=64)
>>> index.save("wordnet-sharded/")               # one file per shard + manifest.json
>>> same = ShardedIVFIndex.open("wordnet-sharded/", num_workers=2)

- :func:`encode` encodes a collection with Ray Data from the broadcast trained model
  (deterministic: the codes do not depend on the worker).
- :class:`ShardedIVFIndex` keeps each shard (an ordinary IVFIndex holding the lists it owns)
  in a Ray actor; searches are routed to the shards owning the probed lists and merged;
  they return the single-process IVFIndex's ids and scores (see ``docs/scale.md`` for the
  exceptions: 4-bit fast-scan lists and filtered searches).
"""
from ._encode import encode, encode_rows
from .sharded import ShardedIVFIndex, assign_lists, balance_lists, coarse_probes

__all__ = ["ShardedIVFIndex", "encode", "encode_rows", "assign_lists", "balance_lists",
           "coarse_probes"]
