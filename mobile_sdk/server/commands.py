"""``deepproduct publish`` and ``deepproduct serve`` (the ``[server]`` extra).

Registered in ``setup.py``'s ``deepproduct.commands`` entry-point group. This module
imports only argparse and the runtime's ``Command`` at import time, so listing the
commands never imports pymilvus or FastAPI; each command imports them when it runs.
"""

from __future__ import annotations

import argparse
import os
import socket

from mobile_sdk.command import Command
from mobile_sdk.errors import DeepProductError

_TOKEN_ENV = "MILVUS_TOKEN"


def _add_milvus_arguments(p: argparse.ArgumentParser, required_uri: bool = False) -> None:
    from mobile_sdk.server.milvus_index import DEFAULT_COLLECTION, DEFAULT_URI

    p.add_argument(
        "--uri",
        default=None if required_uri else DEFAULT_URI,
        help="Milvus: a local Milvus Lite file ending in .db (embedded, nothing to start), or "
        "http://host:19530 / https://... for a Milvus standalone or cluster"
        + ("" if required_uri else " (default: %(default)s)"),
    )
    p.add_argument(
        "--collection",
        default=DEFAULT_COLLECTION,
        help="the catalog's name in Milvus (an alias; default: %(default)s)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get(_TOKEN_ENV),
        help=f"user:password or API key of a Milvus server with authentication "
        f"(default: ${_TOKEN_ENV})",
    )


def _add_publish(p: argparse.ArgumentParser) -> None:
    from mobile_sdk.server.milvus_index import DEFAULT_INDEX_TYPE, INDEX_TYPES
    from mobile_sdk.server.publish import DEFAULT_BATCH_ROWS

    p.add_argument("--index", required=True, help="index file written by 'deepproduct index'")
    _add_milvus_arguments(p)
    p.add_argument(
        "--index-type",
        choices=INDEX_TYPES,
        default=DEFAULT_INDEX_TYPE,
        help="FLAT: exact; HNSW: approximate, fast, ~1.5x the vectors' memory; IVF_SQ8: "
        "approximate, 1 byte per value (see docs/server.md; default: %(default)s)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a catalog of another model or dimension under the same name",
    )
    p.add_argument(
        "--batch-rows",
        type=int,
        default=DEFAULT_BATCH_ROWS,
        help="rows per insert (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_publish(args: argparse.Namespace) -> int:
    from mobile_sdk.index import ProductIndex
    from mobile_sdk.server.publish import publish

    index = ProductIndex.load(args.index)
    result = publish(
        index,
        args.uri,
        args.collection,
        args.index_type,
        replace=args.replace,
        token=args.token,
        batch_rows=args.batch_rows,
        progress=not args.quiet,
    )
    print(result.summary())
    return 0


def _add_serve(p: argparse.ArgumentParser) -> None:
    from mobile_sdk.server.http_service import DEFAULT_MAX_BODY_BYTES

    where = p.add_argument_group("catalog (one of)")
    where.add_argument("--index", help="serve a local index file (.dpi), searched in memory")
    _add_milvus_arguments(where, required_uri=True)
    p.add_argument(
        "--model",
        help="exported model (.tflite / .onnx) to embed uploaded photos; without it the "
        "service takes embeddings only",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body accepted (default: %(default)s)",
    )


def open_catalog(args: argparse.Namespace, expected_fingerprint: str | None = None):
    """The catalog ``serve`` searches: a loaded ``.dpi`` or a ``MilvusIndex``.

    Raises:
        DeepProductError: neither or both of ``--index`` and ``--uri``; the errors of
            ``ProductIndex.load`` and ``MilvusIndex``.
    """
    if (args.index is None) == (args.uri is None):
        raise DeepProductError("give either --index catalog.dpi or --uri (a Milvus catalog)")
    if args.index is not None:
        from mobile_sdk.index import ProductIndex

        return ProductIndex.load(args.index, expected_fingerprint=expected_fingerprint)
    from mobile_sdk.server.milvus_index import MilvusIndex

    return MilvusIndex(
        args.uri, args.collection, token=args.token, expected_fingerprint=expected_fingerprint
    )


def _check_port(host: str, port: int) -> None:
    """Fail with one line, before loading anything, when the address cannot be listened on."""
    if not 0 <= port <= 65535:
        raise DeepProductError(f"--port must be 0 to 65535, got {port}")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise DeepProductError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None


def _run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mobile_sdk.server.http_service import create_app

    if args.max_body_bytes < 1:
        raise DeepProductError(f"--max-body-bytes must be positive, got {args.max_body_bytes}")
    _check_port(args.host, args.port)
    embedder = None
    if args.model:
        from mobile_sdk.embedder import Embedder
        from mobile_sdk.product_search import check_pairing

        embedder = Embedder.from_model_path(args.model)
    try:
        catalog = open_catalog(args, embedder.fingerprint if embedder else None)
        if embedder is not None:
            check_pairing(embedder, catalog)
        app = create_app(catalog, embedder, max_body_bytes=args.max_body_bytes)
        print(
            f"serving {catalog.source} ({len(catalog)} rows, {catalog.dim}-d, model "
            f"{catalog.fingerprint[7:23]}..., photos {'on' if embedder else 'off'}) at "
            f"http://{args.host}:{args.port} (POST /search, GET /health; Ctrl-C stops)",
            flush=True,
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        if embedder is not None:
            embedder.close()
    return 0


PUBLISH = Command(
    "publish",
    "publish a product index (.dpi) to Milvus (new collection, then an alias switch)",
    _add_publish,
    _run_publish,
    extra="server",
    requires=("pymilvus", "milvus_lite"),
)
SERVE = Command(
    "serve",
    "search a catalog (Milvus or a .dpi) over HTTP: POST /search, GET /health",
    _add_serve,
    _run_serve,
    extra="server",
    requires=("fastapi", "uvicorn", "python_multipart"),
)
