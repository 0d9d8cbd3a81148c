"""Vector stores: the float vectors an index scans exactly or reranks candidates with.

The index base class owns its store; a store holds rows in insertion order
(row i belongs to the index's i-th id) and offers the few operations the
search pipeline needs. Float32 in RAM today; compact (float16, int8) and
memory-mapped stores implement the same :class:`VectorStore` interface.
"""
from .base import VectorStore
from .compact import Float16Store, Int8Store
from .float32 import Float32Store

STORES = {"float32": Float32Store, "float16": Float16Store, "int8": Int8Store}

__all__ = ["VectorStore", "Float32Store", "Float16Store", "Int8Store", "STORES"]
