"""Getting embeddings in: files (.npy, .fvecs/.bvecs/.ivecs, ann-benchmarks
HDF5) and encoders (anything with ``encode(list[str]) -> array``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._validate import as_f32_matrix
from .errors import FormatError


def read_npy(path, mmap: bool = False) -> np.ndarray:
    """A 2-D .npy array; float16/float64 are cast to float32 (mmap keeps the file's dtype)."""
    a = np.load(path, mmap_mode="r" if mmap else None)
    if a.ndim != 2:
        raise FormatError(f"{path}: expected a 2-D array, got shape {a.shape}")
    return a if mmap else as_f32_matrix(a, str(path), allow_empty=True, check_finite=False)


def _read_vecs(path, dtype, count: int | None = None) -> np.ndarray:
    """TEXMEX *vecs: each row is an int32 dimension d followed by d values."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0:
        return np.empty((0, 0), dtype=dtype)
    if raw.size < 4:
        raise FormatError(f"{path} is too short to be a *vecs file")
    d = int(raw[:4].view(np.int32)[0])
    itemsize = np.dtype(dtype).itemsize
    row = 4 + d * itemsize
    if d <= 0 or raw.size % row:
        raise FormatError(f"{path} is not a valid *vecs file (dimension {d}, {raw.size} bytes)")
    rows = raw.reshape(-1, row)
    if not (rows[:, :4].copy().view(np.int32)[:, 0] == d).all():
        raise FormatError(f"{path} has rows of different dimensions")
    if count is not None:
        rows = rows[:count]
    return np.ascontiguousarray(rows[:, 4:]).view(dtype).reshape(rows.shape[0], d)


def read_fvecs(path, count: int | None = None) -> np.ndarray:
    """float32 vectors (n, d) from a .fvecs file."""
    return _read_vecs(path, np.float32, count)


def read_bvecs(path, count: int | None = None) -> np.ndarray:
    """uint8 vectors from a .bvecs file, returned as float32 (n, d)."""
    return _read_vecs(path, np.uint8, count).astype(np.float32)


def read_ivecs(path, count: int | None = None) -> np.ndarray:
    """int32 rows (n, d) from an .ivecs file (e.g. ground-truth neighbour ids)."""
    return _read_vecs(path, np.int32, count)


def read_hdf5(path) -> dict:
    """An ann-benchmarks HDF5 file: {"train", "test", "neighbors", "distances", "metric"}.

    Needs h5py (``pip install vecpress[hdf5]``). Vectors come back float32,
    neighbours int64; the metric is mapped to vecpress names ("angular" -> "cosine",
    "euclidean" -> "l2", "dot" -> "ip").
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("reading HDF5 needs h5py: pip install 'vecpress[hdf5]'") from None
    names = {"angular": "cosine", "euclidean": "l2", "dot": "ip", "ip": "ip", "cosine": "cosine"}
    with h5py.File(path, "r") as f:
        for key in ("train", "test"):
            if key not in f:
                raise FormatError(f"{path} is not in the ann-benchmarks layout (no {key!r} dataset)")
        out = {"train": np.asarray(f["train"], dtype=np.float32),
               "test": np.asarray(f["test"], dtype=np.float32),
               "neighbors": np.asarray(f["neighbors"], dtype=np.int64) if "neighbors" in f else None,
               "distances": np.asarray(f["distances"], dtype=np.float32) if "distances" in f else None}
        raw = f.attrs.get("distance", "angular")
        raw = raw.decode() if isinstance(raw, bytes) else str(raw)
        out["metric"] = names.get(raw, raw)
    return out


def read_vectors(path) -> np.ndarray:
    """Read base vectors from .npy, .fvecs, .bvecs or .hdf5/.h5 (the "train" set)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return read_npy(p)
    if suffix == ".fvecs":
        return read_fvecs(p)
    if suffix == ".bvecs":
        return read_bvecs(p)
    if suffix in (".hdf5", ".h5"):
        return read_hdf5(p)["train"]
    raise FormatError(f"unknown vector file type {suffix!r}: use .npy, .fvecs, .bvecs or .hdf5")


def add_texts(index, encoder, texts, ids=None, batch_size: int = 256, progress: bool = True):
    """Encode texts in batches with ``encoder.encode(list[str])`` and add them.

    Works with a sentence-transformers model or any object with that method.
    Returns the int64 ids of the added texts (n,). Shows a progress bar
    (tqdm) unless progress=False.
    """
    if not hasattr(encoder, "encode"):
        raise TypeError("encoder must have an encode(list[str]) -> array method")
    texts = list(texts)
    if ids is not None:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (len(texts),):
            raise ValueError(f"got {ids.shape[0]} ids for {len(texts)} texts")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    out = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(texts), desc="encoding", unit="text")
    try:
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            emb = encoder.encode(batch)
            emb = as_f32_matrix(np.asarray(emb), "encoder output", index.dim)
            if emb.shape[0] != len(batch):
                raise ValueError(f"encoder returned {emb.shape[0]} rows for {len(batch)} texts")
            out.append(index.add(emb, None if ids is None else ids[start:start + len(batch)]))
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    return np.concatenate(out) if out else np.empty(0, np.int64)
