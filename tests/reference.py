"""numpy reference implementations the kernels are checked against."""
import numpy as np


def scores(x, q, metric, d=None):
    """(nq, n) scores on the first d dims: IP, squared L2, or cosine of the prefixes."""
    d = x.shape[1] if d is None else d
    x, q = x[:, :d].astype(np.float64), q[:, :d].astype(np.float64)
    if metric == "ip":
        return q @ x.T
    if metric == "l2":
        return (q * q).sum(1)[:, None] + (x * x).sum(1)[None] - 2 * q @ x.T
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    return qn @ xn.T


def topk(s, k, largest=True):
    """Top-k by score with ties broken by lower id (stable sort)."""
    order = np.argsort(-s if largest else s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, 1), order


def popcount_distances(a, b):
    """Hamming distances (len(a), len(b)) between uint8 code rows."""
    bits = np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=2)
    return bits.sum(axis=2).astype(np.int32)


def binarize(x, d, thresholds=None):
    t = np.zeros(d, np.float32) if thresholds is None else thresholds
    bits = (x[:, :d] > t).astype(np.uint8)
    nbytes = 8 * ((d + 63) // 64)
    out = np.zeros((x.shape[0], nbytes), np.uint8)
    packed = np.packbits(bits, axis=1, bitorder="little")
    out[:, : packed.shape[1]] = packed
    return out
