"""Publish a product index (``.dpi``) to Milvus, safely: a new collection, then an alias switch.

``deepproduct publish --index catalog.dpi --collection products`` never writes into the
collection that is serving. It creates ``products_<fingerprint>_<time>``, inserts the
rows in batches (a progress bar), builds the Milvus index, loads it, checks the row
count, and only then points the alias ``products`` at it and drops the previous
collection. A publish killed at any step before the switch leaves the alias on the
previous catalog, which keeps answering; the half-built collection it leaves is dropped
by the next publish under that name (a publish that fails with an exception drops it
at once).

Publishing is idempotent: when the alias already points at a collection with the same
content (hash of the ids and vectors), the same row count and the same index type,
nothing is written. A catalog of another model (fingerprint) or dimension is refused
unless ``replace=True``, so a publish cannot silently break the apps that send
embeddings of the old model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mobile_sdk.index import FingerprintMismatchError, IndexFormatError, ProductIndex
from mobile_sdk.index_format import MAX_ID_BYTES
from mobile_sdk.server.milvus_index import (
    DEFAULT_COLLECTION,
    DEFAULT_INDEX_TYPE,
    DEFAULT_TIMEOUT_S,
    DEFAULT_URI,
    ID_FIELD,
    INDEX_TYPES,
    ROW_FIELD,
    VECTOR_FIELD,
    CatalogMetadata,
    MilvusError,
    call,
    check_collection_name,
    connect,
    index_params,
    unit_rows,
)

DEFAULT_BATCH_ROWS = 2000


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish` did.

    Attributes:
        uri: the Milvus URI.
        alias: the catalog name searches use.
        collection: the collection the alias points to now.
        rows: rows in the catalog.
        products: distinct product ids.
        index_type: the Milvus index type.
        action: ``"created"`` (first publish under the name), ``"updated"`` (new
            content replaced the previous collection), ``"replaced"`` (another model's
            catalog was replaced, ``replace=True``) or ``"unchanged"`` (same content).
        seconds: wall time.
    """

    uri: str
    alias: str
    collection: str
    rows: int
    products: int
    index_type: str
    action: str
    seconds: float

    def summary(self) -> str:
        """One line for the command's output."""
        what = f"{self.rows} rows ({self.products} products, {self.index_type})"
        if self.action == "unchanged":
            return f"unchanged: {self.uri} collection {self.alias} already holds these {what}"
        return (
            f"published {what} -> {self.uri} collection {self.alias} "
            f"({self.action}: {self.collection}, {self.seconds:.1f} s)"
        )


def content_hash(index: ProductIndex) -> str:
    """sha256 of what a search depends on: model, dtype, dimension, ids and vectors in row order."""
    h = hashlib.sha256(f"{index.fingerprint} {index.dtype} {index.dim}\n".encode())
    for product_id in index.row_ids:
        encoded = product_id.encode("utf-8")
        h.update(len(encoded).to_bytes(2, "little") + encoded)
    h.update(np.ascontiguousarray(index.vectors).tobytes())
    return h.hexdigest()


def _insert_batch(client: Any, collection: str, rows: list[dict[str, Any]], where: str) -> None:
    """Insert one batch (a function of its own so that tests can fail a publish midway)."""
    call(where, "insert", client.insert, collection, rows)


def _create_collection(client: Any, name: str, meta: CatalogMetadata, where: str) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(ROW_FIELD, DataType.INT64, is_primary=True)
    schema.add_field(ID_FIELD, DataType.VARCHAR, max_length=MAX_ID_BYTES)
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=meta.dim)
    call(where, "creating the collection", client.create_collection, name, schema=schema)
    call(
        where,
        "writing the catalog metadata",
        client.alter_collection_properties,
        name,
        properties=meta.to_properties(),
    )


def _build_index(client: Any, name: str, meta: CatalogMetadata, where: str) -> None:
    params = client.prepare_index_params()
    params.add_index(
        field_name=VECTOR_FIELD,
        index_type=meta.index_type,
        metric_type="IP",
        params=index_params(meta.index_type, meta.rows),
    )
    call(where, "building the index", client.create_index, name, params)
    call(where, "loading the collection", client.load_collection, name)


def _current(client: Any, alias: str, where: str) -> tuple[str, CatalogMetadata] | None:
    """The collection ``alias`` points to and its metadata, or None if there is none yet.

    Raises:
        MilvusError: ``alias`` is a plain collection (not made by publish).
    """
    if not call(where, "looking up the collection", client.has_collection, alias):
        return None
    info = call(where, "reading the collection", client.describe_collection, alias)
    if info["collection_name"] == alias:
        raise MilvusError(
            f"{where}: is a collection, not an alias made by 'deepproduct publish'; "
            "publish under another --collection name"
        )
    return info["collection_name"], CatalogMetadata.from_properties(info.get("properties"), where)


def _drop_others(client: Any, alias: str, keep: str, where: str) -> None:
    """Drop the collections published under ``alias`` other than ``keep`` (old or half-built)."""
    prefix = f"{alias}_"
    for name in call(where, "listing collections", client.list_collections):
        if name == keep or not name.startswith(prefix):
            continue
        info = call(where, "reading a collection", client.describe_collection, name)
        props = info.get("properties") or {}
        if props.get("deepproduct.alias") == alias:
            call(where, f"dropping the old collection {name}", client.drop_collection, name)


def publish(
    index: ProductIndex,
    uri: str = DEFAULT_URI,
    collection: str = DEFAULT_COLLECTION,
    index_type: str = DEFAULT_INDEX_TYPE,
    *,
    replace: bool = False,
    token: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> PublishResult:
    """Publish ``index`` to Milvus under the name ``collection`` (see the module docstring).

    Args:
        index: the product index (e.g. ``ProductIndex.load("catalog.dpi")``).
        uri: where Milvus is; default a local Milvus Lite file (``mobile_sdk.server.milvus_index``).
        collection: the catalog's name, the alias searches use.
        index_type: ``FLAT`` (exact), ``HNSW`` or ``IVF_SQ8`` (approximate).
        replace: allow replacing a catalog of another model or dimension.
        token: ``user:password`` or an API key, for servers with authentication.
        batch_rows: rows per insert call.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for Milvus on each call.
        clock: the time that names the new collection (tests fix it).

    Returns:
        What was done.

    Raises:
        MilvusError: Milvus cannot be reached or failed; ``collection`` is a plain
            collection not made by publish.
        FingerprintMismatchError: the catalog under that name is of another model or
            dimension and ``replace`` is False.
        IndexFormatError: bad collection name, index type or batch size; an empty index.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    alias = check_collection_name(collection)
    if index_type not in INDEX_TYPES:
        raise IndexFormatError(
            f"index type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}"
        )
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise IndexFormatError(f"batch_rows must be a positive int, got {batch_rows!r}")
    if len(index) == 0:
        raise IndexFormatError(f"{index.source}: the index is empty; nothing to publish")
    where = f"{uri} collection {alias}"
    meta = CatalogMetadata(
        fingerprint=index.fingerprint,
        dim=index.dim,
        dtype=index.dtype,
        rows=len(index),
        content=content_hash(index),
        index_type=index_type,
        alias=alias,
    )
    products = len(index.product_ids)
    client = connect(uri, token, timeout)
    try:
        current = _current(client, alias, where)
        action = "created"
        if current is not None:
            target, old = current
            if (old.fingerprint, old.dim) != (meta.fingerprint, meta.dim):
                if not replace:
                    raise FingerprintMismatchError(
                        f"{where}: holds a catalog of model {old.fingerprint[7:23]}... "
                        f"({old.dim}-d), this index is of model {meta.fingerprint[7:23]}... "
                        f"({meta.dim}-d); pass --replace to replace it (apps sending the "
                        "old model's embeddings will then be refused)"
                    )
                action = "replaced"
            else:
                action = "updated"
            stats = call(where, "reading the row count", client.get_collection_stats, target)
            same = (old.content, old.index_type) == (meta.content, meta.index_type)
            if same and int(stats.get("row_count", -1)) == meta.rows:
                _drop_others(client, alias, target, where)
                seconds = time.perf_counter() - start
                return PublishResult(
                    uri, alias, target, meta.rows, products, index_type, "unchanged", seconds
                )
        name = f"{alias}_{meta.fingerprint[7:15]}_{clock().strftime('%Y%m%d%H%M%S%f')}"
        _create_collection(client, name, meta, where)
        try:
            ids = index.row_ids
            stored = index.vectors
            with tqdm(total=meta.rows, unit="rows", desc="publish", disable=not progress) as bar:
                for lo in range(0, meta.rows, batch_rows):
                    hi = min(meta.rows, lo + batch_rows)
                    vectors = unit_rows(stored[lo:hi])
                    rows = [
                        {ROW_FIELD: r, ID_FIELD: ids[r], VECTOR_FIELD: vectors[r - lo]}
                        for r in range(lo, hi)
                    ]
                    _insert_batch(client, name, rows, where)
                    bar.update(hi - lo)
            call(where, "flush", client.flush, name)
            _build_index(client, name, meta, where)
            stats = call(where, "reading the row count", client.get_collection_stats, name)
            if int(stats.get("row_count", -1)) != meta.rows:
                raise MilvusError(
                    f"{where}: {name} holds {stats.get('row_count')} rows after the insert, "
                    f"expected {meta.rows}; the alias was not switched"
                )
            if current is None:
                call(where, "creating the alias", client.create_alias, name, alias)
            else:
                call(where, "switching the alias", client.alter_alias, name, alias)
        except BaseException:
            # the alias still points at the previous catalog; the half-built one goes
            try:
                client.drop_collection(name)
            except Exception:  # noqa: BLE001 - the next publish drops it instead
                pass
            raise
        _drop_others(client, alias, name, where)
        return PublishResult(
            uri, alias, name, meta.rows, products, index_type, action, time.perf_counter() - start
        )
    finally:
        client.close()
