"""A reference HTTP service over one vecpress index (FastAPI + uvicorn: ``pip install
"vecpress[serve]"``), started by ``vecpress serve INDEX_FILE`` or :func:`serve`.

Endpoints (JSON in and out; see ``docs/service.md`` for examples):

- ``POST /search``: ``queries`` (a list of nq lists of dim floats) or ``queries_b64``
  (base64 of nq * dim little-endian float32), ``k``, optional ``filter``
  (``{"allow": [ids]}``, ``{"deny": [ids]}`` or both) and the per-call parameters
  ``rerank``, ``nprobe`` (indexes whose ``search`` takes it: :class:`vecpress.IVFIndex`),
  ``threads``. Returns ``{"ids": [[...]], "scores": [[...]]}``, both nq x k, best first;
  padding (fewer than k vectors pass) is id -1 with score ``null`` (JSON has no infinity).
- ``POST /add``: ``vectors`` or ``vectors_b64``, optional ``ids``; returns ``{"ids": [...]}``.
- ``POST /remove``: ``ids``; returns ``{"removed": n}``.
- ``POST /save``: writes the index (atomically) to the file it was opened from, or
  ``save_path``; returns ``{"path", "bytes", "seconds"}``.
- ``GET /stats``: class, dim, metric, n, bytes per vector, memory report, mmap, uptime,
  request counts. ``GET /health``: ``{"status": "ok", "n": len(index)}``.

Status codes: the library's input errors (:class:`vecpress.DTypeError`, ``ShapeError``,
``DimensionError``, ``EmptyInputError``, ``NonFiniteError``, ``ParameterError``,
``ParameterTypeError``) and request-model validation (malformed JSON, wrong field types,
unknown fields) are 422; :class:`vecpress.UnknownIdError` is 404;
:class:`vecpress.DuplicateIdError`, :class:`vecpress.NotTrainedError` and
:class:`vecpress.IndexNotEmptyError` are 409; a body over ``max_body_bytes`` or a result over
``max_result_entries`` is 413; a filter on a vecpress without filtered search is 501. Each
error body is ``{"detail": message, "error": class name}`` (validation errors keep FastAPI's
list of ``{"loc", "msg", "type"}``).

Concurrency: endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool
and concurrent searches run in parallel (the kernels release the GIL). The service takes no
lock around index calls: the index itself serialises writes against searches (issue 13's
guarantee), so whatever the library promises about concurrent calls is what clients get.
"""
from __future__ import annotations

import base64
import binascii
import inspect
import math
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from . import errors
from .indexes import Index, load

# Ids as JSON integers in the library's range (0..2**63-1): a bigger one cannot become int64.
Id = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Vectors = list[list[StrictFloat]]

DEFAULT_MAX_BODY_BYTES = 64 << 20  # 64 MiB: about 42,000 384-d float32 vectors in base64
DEFAULT_MAX_RESULT_ENTRIES = 1 << 22  # nq * k per search (about 100 MB of JSON)

# Most specific class first: the first isinstance match decides the status.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (errors.UnknownIdError, 404),
    (errors.DuplicateIdError, 409),
    (errors.NotTrainedError, 409),
    (errors.IndexNotEmptyError, 409),
    (errors.ParameterTypeError, 422),
    (errors.ParameterError, 422),
    (errors.DTypeError, 422),
    (errors.DimensionError, 422),
    (errors.ShapeError, 422),
    (errors.EmptyInputError, 422),
    (errors.NonFiniteError, 422),
    (errors.GPUUnavailableError, 503),
    (errors.DeviceError, 503),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status a vecpress exception maps to: 4xx for the client's mistakes (see the
    module docstring), 503 for device trouble, 500 for the rest (a bug in vecpress, e.g.
    :class:`vecpress.KernelError`)."""
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


class ServiceError(Exception):
    """A request the service itself refuses (not the library): status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Model(BaseModel):
    # A misspelt field ("querys") is refused, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class FilterSpec(_Model):
    """Which ids a search may return: only ``allow`` (when given), never ``deny``."""

    allow: list[Id] | None = None
    deny: list[Id] | None = None


class SearchRequest(_Model):
    queries: Vectors | None = None
    queries_b64: str | None = None
    k: StrictInt = 10
    filter: FilterSpec | None = None
    rerank: StrictInt | list[StrictInt] | None = None
    nprobe: StrictInt | None = None
    threads: StrictInt | None = None


class AddRequest(_Model):
    vectors: Vectors | None = None
    vectors_b64: str | None = None
    ids: list[Id] | None = None


class RemoveRequest(_Model):
    ids: list[Id]


def _matrix(rows: Vectors | None, b64: str | None, dim: int, name: str) -> np.ndarray:
    """The request's vectors as float32 (n, dim), from JSON lists or base64; ServiceError
    (422) when both or neither are given, or the base64 is not n * dim float32. Shape,
    dimension and finiteness of JSON lists are left to the index, whose messages say more."""
    if (rows is None) == (b64 is None):
        raise ServiceError(422, f"give exactly one of {name} (lists of floats) and {name}_b64 "
                                "(base64 of little-endian float32)")
    if b64 is not None:
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ServiceError(422, f"{name}_b64 is not valid base64: {e}") from None
        if len(raw) % (4 * dim):
            raise ServiceError(422, f"{name}_b64 holds {len(raw)} bytes, not a whole number of "
                                    f"{dim}-d float32 vectors ({4 * dim} bytes each)")
        return np.frombuffer(raw, dtype="<f4").reshape(-1, dim)
    if len({len(r) for r in rows}) > 1:
        raise errors.ShapeError(f"{name} must all have the same length (the index's dimension "
                                f"{dim}); got lengths {sorted({len(r) for r in rows})[:5]}")
    # Values past float32's range become inf here and the index refuses them as non-finite
    # (NonFiniteError) instead of numpy warning about the overflow.
    with np.errstate(over="ignore"):
        x = np.asarray(rows, dtype=np.float32)
    return x.reshape(0, dim) if not len(rows) else x  # [] -> (0, dim): empty, not 1-D


def _scores_json(scores: np.ndarray) -> list[list[float | None]]:
    """Scores (nq, k) float32 as JSON lists, padding (-inf/+inf) as null."""
    out = scores.tolist()
    if not np.isfinite(scores).all():
        out = [[s if math.isfinite(s) else None for s in row] for row in out]
    return out


_ROUTES = frozenset({"/search", "/add", "/remove", "/save", "/stats", "/health"})


class _Limits:
    """Pure ASGI middleware: refuses bodies over ``max_body_bytes`` with 413 (checked from
    Content-Length when sent, else while the body streams in) and counts requests per
    route and responses per status for /stats. It runs on the event loop thread only, so
    the counters need no lock."""

    def __init__(self, app: Any, max_body_bytes: int, counts: Counter, statuses: Counter):
        self.app, self.max = app, max_body_bytes
        self.counts, self.statuses = counts, statuses

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in _ROUTES else "other"
        self.counts[f"{scope['method']} {path}"] += 1

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                self.statuses[str(message["status"])] += 1
            await send(message)

        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max:
            await self._drain(receive)
            await self._too_large(counting_send, int(length))
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # No length given (chunked): read the body here, up to the limit, and replay it.
            body, more = [], True
            size = 0
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body.append(message.get("body", b""))
                size += len(body[-1])
                more = message.get("more_body", False)
                if size > self.max:
                    if more:
                        await self._drain(receive)
                    await self._too_large(counting_send, size)
                    return
            replay = [{"type": "http.request", "body": b"".join(body), "more_body": False}]

            async def replay_receive() -> dict:
                return replay.pop() if replay else await receive()

            await self.app(scope, replay_receive, counting_send)
            return
        await self.app(scope, receive, counting_send)

    async def _drain(self, receive: Any) -> None:
        """Read and drop the rest of a refused body (up to 16 times the limit), so that the
        client, still sending, reads the 413 instead of a reset connection."""
        drained = 0
        while drained <= 16 * self.max:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, send: Any, size: int) -> None:
        response = JSONResponse(
            {"detail": f"request body of {size} bytes is over the service's limit of "
                       f"{self.max} bytes: send fewer vectors per request",
             "error": "RequestTooLarge"}, status_code=413)
        await response({"type": "http"}, None, send)


def create_app(index_or_path: Index | str | os.PathLike, *, mmap: bool = False,
               save_path: str | os.PathLike | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_result_entries: int = DEFAULT_MAX_RESULT_ENTRIES) -> FastAPI:
    """A FastAPI application serving one index.

    Parameters
    ----------
    index_or_path : a vecpress index, or the path of a file saved with ``Index.save``
        (opened with :func:`vecpress.load`).
    mmap : open the file memory-mapped (``load(path, mmap=True)``); ignored for an index.
    save_path : where ``POST /save`` writes; default: the file the index was opened from
        (an index passed as an object and no save_path: /save answers 409).
    max_body_bytes : larger request bodies get 413.
    max_result_entries : a search whose result would hold more than this many entries
        (nq * k) gets 413.
    """
    if isinstance(index_or_path, Index):
        index, opened_from = index_or_path, None
    else:
        opened_from = Path(index_or_path)
        index = load(opened_from, mmap=mmap)
    target = Path(save_path) if save_path is not None else opened_from
    # Per-call parameters are passed only to indexes whose search() names them.
    accepted = set(inspect.signature(index.search).parameters)
    started = time.monotonic()
    counts: Counter = Counter()
    statuses: Counter = Counter()
    save_lock = threading.Lock()  # two /save calls must not race on the same target file

    app = FastAPI(title="vecpress", version=_version(),
                  description="Search, add to and remove from one vecpress index.")
    app.add_middleware(_Limits, max_body_bytes=max_body_bytes, counts=counts, statuses=statuses)

    @app.exception_handler(errors.VecpressError)
    async def _vecpress_error(request: Request, exc: errors.VecpressError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__},
                            status_code=status_for(exc))

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "ServiceError"},
                            status_code=exc.status)

    def selector(spec: FilterSpec | None) -> Any:
        if spec is None:
            return None
        if "filter" not in accepted:
            raise ServiceError(501, f"this vecpress ({_version()}) has no filtered search: "
                                    f"{type(index).__name__}.search takes no filter")
        if spec.allow is None and spec.deny is None:
            raise ServiceError(422, 'filter needs "allow" and/or "deny" (lists of ids)')
        allow = None if spec.allow is None else np.asarray(spec.allow, dtype=np.int64)
        if spec.deny is None:
            return allow  # an allow-list is the plain int64 array search() takes
        from . import filters  # type: ignore[attr-defined]  (issue 13's selectors)

        return filters.IdSelector(allow=allow, deny=np.asarray(spec.deny, dtype=np.int64))

    @app.post("/search")
    def search(req: SearchRequest) -> JSONResponse:
        """k nearest stored vectors for each query (see the module docstring)."""
        q = _matrix(req.queries, req.queries_b64, index.dim, "queries")
        if q.shape[0] * max(req.k, 0) > max_result_entries:
            raise ServiceError(413, f"{q.shape[0]} queries x k={req.k} would return "
                                    f"{q.shape[0] * req.k} results, over the service's limit "
                                    f"of {max_result_entries}: send fewer queries or a lower k")
        kwargs: dict[str, Any] = {}
        for name in ("rerank", "nprobe", "threads"):
            value = getattr(req, name)
            if value is None:
                continue
            if name not in accepted:
                raise errors.ParameterError(f"{type(index).__name__} takes no {name} (it "
                                            "applies to IVFIndex); leave it out")
            kwargs[name] = value
        filt = selector(req.filter)
        if filt is not None:
            kwargs["filter"] = filt
        scores, ids = index.search(q, req.k, **kwargs)
        return JSONResponse({"ids": np.asarray(ids).tolist(),
                             "scores": _scores_json(np.asarray(scores))})

    @app.post("/add")
    def add(req: AddRequest) -> JSONResponse:
        """Add vectors (n, dim); returns their ids (given, or the next unused ones)."""
        x = _matrix(req.vectors, req.vectors_b64, index.dim, "vectors")
        ids = None if req.ids is None else np.asarray(req.ids, dtype=np.int64)
        return JSONResponse({"ids": index.add(x, ids).tolist()})

    @app.post("/remove")
    def remove(req: RemoveRequest) -> JSONResponse:
        """Remove vectors by id (all or none: an unknown id is 404 and removes nothing)."""
        return JSONResponse({"removed": index.remove(np.asarray(req.ids, dtype=np.int64))})

    @app.post("/save")
    def save() -> JSONResponse:
        """Write the index to its file (temporary file + rename: readers never see half)."""
        if target is None:
            raise ServiceError(409, "this service was given an index object and no save_path: "
                                    "there is no file to save to")
        t0 = time.perf_counter()
        with save_lock:
            index.save(target)
        return JSONResponse({"path": str(target), "bytes": target.stat().st_size,
                             "seconds": time.perf_counter() - t0})

    @app.get("/stats")
    def stats() -> JSONResponse:
        """What is served and how much it has been asked."""
        out: dict[str, Any] = {
            "class": type(index).__name__, "dim": index.dim, "metric": index.metric,
            "n": len(index), "mmap": bool(mmap and opened_from is not None),
            "file": None if opened_from is None else str(opened_from),
            "uptime_s": time.monotonic() - started,
            "requests": dict(counts), "responses": dict(statuses),
            "vecpress": _version(),
        }
        for name in ("rerank", "nlist", "nprobe", "threads"):
            if isinstance(getattr(index, name, None), (int, tuple)):
                out[name] = getattr(index, name)
        if hasattr(index, "bytes_per_vector"):
            out["bytes_per_vector"] = float(index.bytes_per_vector())
        if hasattr(index, "memory_report"):
            out["memory_report"] = {k: float(v) for k, v in index.memory_report().items()}
        return JSONResponse(out)

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "n": len(index)})

    app.state.index = index
    return app


def _version() -> str:
    from ._version import __version__

    return __version__


def serve(path: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          mmap: bool = False, *, save_path: str | os.PathLike | None = None,
          log_level: str = "info", access_log: bool = True) -> None:
    """Open the index file ``path`` and serve it with uvicorn until interrupted (port 0:
    any free port, printed in uvicorn's "Uvicorn running on ..." line)."""
    import uvicorn

    app = create_app(path, mmap=mmap, save_path=save_path)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
