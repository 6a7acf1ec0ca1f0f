"""The search service: a catalog (Milvus or a local ``.dpi``) behind a small HTTP API.

``create_app(index, embedder)`` returns a FastAPI application (``deepproduct serve``
runs it with uvicorn)::

    POST /search?k=5&min_score=0.5
        multipart/form-data:  image=<photo file>  [model=<fingerprint>]   (needs a model)
        application/json:     {"embedding": [D floats]}
                          or  {"embedding_int8": "<base64 of D int8 codes>"}
                              [, "model": "sha256:<hex>"]
    -> 200 {"results": [{"product_id": "...", "score": 0.93}, ...], "model": "sha256:<hex>"}

    GET /health
    -> 200 {"status": "ok", "backend": "milvus" | "local", "source": "...", "rows": N,
            "dimension": D, "model": "sha256:<hex>", "image_queries": true | false}

``embedding_int8`` is the query's int8 codes by the rule of INDEX_FORMAT.md section 3
(``rint(v * 127 / max|v|)``, halves to even, so the largest ``|code|`` is 127): 256
bytes for the shipped 256-d model, 344 characters of base64. The rule is scale-free, so
no scale travels with the codes: the score is the cosine, which ignores it. A phone that
sends ``"model"`` (its model's fingerprint) gets 409 instead of wrong answers when the
catalog was published from another model.

Every bad request gets a 4xx with ``{"error": "<what is wrong>"}``, never a 500: 400 for
malformed JSON or multipart, a wrong vector length, bad numbers, a bad ``k``; 409 for a
fingerprint mismatch; 413 for a body over the stated limit (checked against
Content-Length before reading, and while reading); 415 for an upload that is not an
image, or a body that is neither JSON nor multipart. 503 means the backend (Milvus)
failed; it names it.
"""

# No "from __future__ import annotations": FastAPI reads the endpoints' annotations
# (Request, the query parameters) at run time, and Request is imported in create_app.
import base64
import binascii
import json
import logging
import math
import threading
from typing import Any, Protocol

import numpy as np

from mobile_sdk.embedder import Embedder
from mobile_sdk.errors import DeepProductError
from mobile_sdk.image_io import ImageLoadError
from mobile_sdk.index import IndexFormatError, SearchResult, VectorError, normalize_fingerprint

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # a 12 MP JPEG fits; a stream of garbage does not
DEFAULT_MAX_K = 100
_QUERY_KEYS = {"embedding", "embedding_int8", "model"}
_log = logging.getLogger(__name__)


class SearchBackend(Protocol):
    """What the service searches: a ``ProductIndex`` or a ``MilvusIndex``."""

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the model the catalog's vectors come from."""
        ...

    @property
    def dim(self) -> int:
        """Vector length."""
        ...

    @property
    def source(self) -> str:
        """The file or URI and collection, for messages."""
        ...

    def __len__(self) -> int: ...

    def search(
        self, vector: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[SearchResult]:
        """Up to ``k`` products for a query vector, best first."""
        ...


class RequestError(DeepProductError):
    """A request the service refuses: an HTTP status and the message sent back as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reject_constant(name: str) -> float:
    raise RequestError(400, f"malformed JSON: {name} is not a number JSON allows")


def parse_json_query(body: bytes, dim: int) -> tuple[np.ndarray, str | None]:
    """A JSON search body -> the (D,) float32 query vector and the client's model fingerprint.

    Args:
        body: the request body.
        dim: the catalog's dimension D.

    Raises:
        RequestError: status 400 with the reason: malformed JSON, not an object, unknown
            or missing fields, a vector of the wrong length, bad numbers or base64, int8
            codes that break INDEX_FORMAT.md section 3, a malformed fingerprint.
    """
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(400, f"malformed JSON: {e}") from None
    if not isinstance(doc, dict):
        raise RequestError(400, 'the JSON body must be an object, e.g. {"embedding": [...]}')
    unknown = sorted(set(doc) - _QUERY_KEYS)
    if unknown:
        raise RequestError(
            400, f"unknown field(s) {unknown}: send 'embedding' or 'embedding_int8', and 'model'"
        )
    given = [key for key in ("embedding", "embedding_int8") if key in doc]
    if len(given) != 1:
        raise RequestError(
            400, "send exactly one of 'embedding' (floats) or 'embedding_int8' (base64)"
        )
    if given[0] == "embedding":
        vector = _floats(doc["embedding"], dim)
    else:
        vector = _int8_codes(doc["embedding_int8"], dim)
    model = doc.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(400, f"'model' must be a fingerprint string, got {model!r}")
    return vector, model


def _floats(values: object, dim: int) -> np.ndarray:
    if not isinstance(values, list):
        raise RequestError(400, "'embedding' must be a list of numbers")
    if len(values) != dim:
        raise RequestError(
            400, f"'embedding' has {len(values)} values; this catalog's vectors have {dim}"
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise RequestError(400, "'embedding' must hold numbers only")
    vector = np.asarray(values, np.float64)
    if not np.isfinite(vector).all() or np.abs(vector).max() > np.finfo(np.float32).max:
        raise RequestError(400, "'embedding' has a value outside the float32 range")
    return vector.astype(np.float32)


def _int8_codes(text: object, dim: int) -> np.ndarray:
    if not isinstance(text, str):
        raise RequestError(400, "'embedding_int8' must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise RequestError(400, f"'embedding_int8' is not valid base64 ({e})") from None
    if len(raw) != dim:
        raise RequestError(
            400, f"'embedding_int8' holds {len(raw)} codes; this catalog's vectors have {dim}"
        )
    codes = np.frombuffer(raw, np.int8)
    if (codes == -128).any() or np.abs(codes.astype(np.int16)).max() != 127:
        raise RequestError(
            400,
            "'embedding_int8' breaks the int8 rule of INDEX_FORMAT.md section 3 "
            "(codes -127 to 127, the largest |code| exactly 127)",
        )
    return codes.astype(np.float32)


def _check_model(client_model: str | None, catalog_model: str, source: str) -> None:
    if client_model is None:
        return
    try:
        client = normalize_fingerprint(client_model)
    except IndexFormatError as e:
        raise RequestError(400, f"'model': {e}") from None
    if client != catalog_model:
        raise RequestError(
            409,
            f"the query comes from model {client[7:23]}..., but {source} was built with "
            f"model {catalog_model[7:23]}...; update the app's model or publish a catalog "
            "built with it",
        )


def create_app(
    index: SearchBackend,
    embedder: Embedder | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_k: int = DEFAULT_MAX_K,
) -> Any:
    """The FastAPI application serving ``index`` (see the module docstring for the API).

    Args:
        index: the catalog: a ``ProductIndex`` or a ``MilvusIndex``.
        embedder: the model for image queries (None: embeddings only, images get 400).
            Pair it with the index first (``mobile_sdk.product_search.check_pairing``).
        max_body_bytes: the largest request body accepted (413 above).
        max_k: the largest ``k`` accepted.

    Returns:
        A ``fastapi.FastAPI`` application.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    embed_lock = threading.Lock()  # one interpreter: image queries take turns
    backend = getattr(index, "backend", "local")
    app = FastAPI(title="DeepProduct search", docs_url=None, redoc_url=None)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, e: RequestError) -> JSONResponse:
        return error(e.status, e.message)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
            for err in e.errors()
        )
        return error(400, problems)

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception) -> JSONResponse:
        _log.exception("search service: unexpected error")
        return error(500, f"internal error ({type(e).__name__}); see the server log")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "backend": backend,
            "source": index.source,
            "rows": len(index),
            "dimension": index.dim,
            "model": index.fingerprint,
            "image_queries": embedder is not None,
        }

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            raise RequestError(
                413 if length.isdigit() else 400,
                f"request body is {length} bytes; the limit is {max_body_bytes} bytes"
                if length.isdigit()
                else f"bad Content-Length {length!r}",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise RequestError(413, f"request body exceeds the limit of {max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def image_query(request: Request, body: bytes) -> tuple[np.ndarray, str | None]:
        if embedder is None:
            raise RequestError(
                400,
                "this service has no model for photos (start it with --model); "
                'send {"embedding": [...]} instead',
            )

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
        except Exception as e:  # noqa: BLE001 - python-multipart's errors are many
            raise RequestError(
                400, f"malformed multipart body ({getattr(e, 'detail', e)})"
            ) from None
        image, model = form.get("image"), form.get("model")
        if image is None or isinstance(image, str):
            raise RequestError(400, "multipart body needs the photo as a file in the field 'image'")
        if model is not None and not isinstance(model, str):
            raise RequestError(400, "multipart field 'model' must be text")
        data = await image.read()
        name = image.filename or "image"

        def embed() -> np.ndarray:
            with embed_lock:
                return embedder.embed(data)

        try:
            return await run_in_threadpool(embed), model
        except ImageLoadError as e:
            raise RequestError(415, f"{name}: {e.problem}") from None

    @app.post("/search")
    async def search(request: Request, k: int = 5, min_score: float | None = None) -> Any:
        if not 1 <= k <= max_k:
            raise RequestError(400, f"k must be from 1 to {max_k}, got {k}")
        if min_score is not None and not math.isfinite(min_score):
            raise RequestError(400, f"min_score must be a finite number, got {min_score}")
        body = await read_body(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            vector, model = await image_query(request, body)
        elif content_type in ("application/json", ""):
            vector, model = parse_json_query(body, index.dim)
        else:
            raise RequestError(
                415,
                f"content type {content_type!r} is not supported: send application/json "
                "or multipart/form-data",
            )
        _check_model(model, index.fingerprint, index.source)
        try:
            hits = await run_in_threadpool(index.search, vector, k, min_score)
        except VectorError as e:
            raise RequestError(400, str(e)) from None
        except DeepProductError as e:
            _log.error("search backend failed: %s", e)
            raise RequestError(503, f"the catalog backend failed: {e}") from None
        return {
            "results": [{"product_id": h.product_id, "score": h.score} for h in hits],
            "model": index.fingerprint,
        }

    return app
