"""MilvusIndex: a product catalog in Milvus, searched like a ``ProductIndex``.

A catalog published by ``deepproduct publish`` (``mobile_sdk.server.publish``) is one
Milvus collection behind an alias (the name you give, e.g. ``products``). Its rows are
the index file's rows: ``row`` (INT64 primary key, the row number in the ``.dpi``),
``product_id`` (VARCHAR) and ``vector`` (FLOAT_VECTOR, unit length: the float32 rows
as stored, or the int8 codes divided by their norm). The model's fingerprint, the
dimension, the source dtype, the row count, a hash of the content and the Milvus index
type are collection properties (``deepproduct.*``), so a reader can make the same
pairing checks as ``ProductSearch`` without the ``.dpi`` file.

Scores are Milvus's inner product (metric ``IP``) of unit vectors, i.e. the cosine of
INDEX_FORMAT.md section 4 computed in float32 by Milvus: for a FLAT collection they
equal ``ProductIndex.search``'s to about 1e-6 (the summation order differs) and the
results are the same products in the same order, except between products whose scores
differ by less than that. For an int8 catalog the query is quantized by the same rule
as the rows first, as ``ProductIndex`` does.

The URI is what ``pymilvus.MilvusClient`` takes: a local ``*.db`` path (Milvus Lite,
embedded, nothing to start), ``http://host:19530`` / ``https://...`` / ``tcp://...``
for a Milvus standalone or cluster (``grpc://`` is read as ``http://``), with a token
(``user:password`` or an API key) where the server wants one.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mobile_sdk.errors import DeepProductError
from mobile_sdk.index import (
    FingerprintMismatchError,
    IndexFormatError,
    SearchResult,
    normalize_fingerprint,
    quantize_int8,
)
from mobile_sdk.quantization import check_vector

DEFAULT_URI = "deepproduct_milvus.db"
DEFAULT_COLLECTION = "products"
INDEX_TYPES = ("FLAT", "HNSW", "IVF_SQ8")
DEFAULT_INDEX_TYPE = "HNSW"
MAX_TOP_K = 16384  # the most rows one Milvus search returns
DEFAULT_TIMEOUT_S = 10.0
LITE_CONNECT_TRIES = 3  # connections to a local Milvus Lite catalog (see connect)
DEFAULT_HNSW_EF = 64  # search breadth; raised to the number of rows asked for
DEFAULT_IVF_NPROBE = 32

ROW_FIELD, ID_FIELD, VECTOR_FIELD = "row", "product_id", "vector"
PROPERTY_PREFIX = "deepproduct."
META_VERSION = 1
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_COLLECTION_NOT_FOUND = 100  # Milvus's error code for a missing collection


class MilvusError(DeepProductError, RuntimeError):
    """Milvus cannot be reached or refused an operation, or a collection is missing or
    is not a catalog written by ``deepproduct publish``; the message names the URI and
    the collection."""


def _quiet_client_logs() -> None:
    # pymilvus and Milvus Lite log every failed call with its traceback; each failure
    # reaches the caller as a MilvusError whose message says what went wrong.
    for name in ("pymilvus", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def check_collection_name(name: str) -> str:
    """``name`` if Milvus accepts it as a collection or alias name, else IndexFormatError.

    Milvus names are letters, digits and underscores, not starting with a digit; publish
    appends a suffix, so the name may be 200 characters at most.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise IndexFormatError(
            f"collection name {name!r} is not valid: use 1 to 200 letters, digits and "
            "underscores, not starting with a digit"
        )
    return name


def _client_uri(uri: str) -> str:
    """``uri`` as pymilvus takes it, or MilvusError saying what a URI may be."""
    if not isinstance(uri, str) or not uri:
        raise MilvusError(f"Milvus URI must be a non-empty string, got {uri!r}")
    if uri.startswith("grpc://"):
        return "http://" + uri[len("grpc://") :]
    if uri.startswith(("http://", "https://", "tcp://", "unix:")):
        return uri
    if "://" in uri:
        raise MilvusError(
            f"{uri}: not a Milvus URI: use a local file ending in .db (Milvus Lite) or "
            "http://host:19530, https://..., tcp://..., grpc://... (Milvus standalone or cluster)"
        )
    if not uri.endswith(".db"):
        raise MilvusError(
            f"{uri}: a local Milvus Lite catalog must be a path ending in .db "
            "(or give http://host:19530 for a Milvus server)"
        )
    parent = Path(uri).parent
    if not parent.is_dir():
        raise MilvusError(f"{uri}: folder {parent} does not exist")
    if Path(uri).exists() and not Path(uri).is_dir():
        raise MilvusError(f"{uri}: exists and is not a Milvus Lite data folder")
    return uri


def connect(uri: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """A ``pymilvus.MilvusClient`` for ``uri`` (see the module docstring for the forms).

    Args:
        uri: a local ``*.db`` path (Milvus Lite) or a Milvus server URI.
        token: ``user:password`` or an API key, for servers with authentication.
        timeout: seconds to wait for the server on each call.

    Raises:
        MilvusError: the URI is malformed, its folder is missing, or the server cannot
            be reached or refused the token.
    """
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    _quiet_client_logs()
    client_uri = _client_uri(uri)
    local = client_uri == uri and uri.endswith(".db")
    try:
        if not local:
            return MilvusClient(uri=client_uri, token=token or "", timeout=timeout)
        # The embedded server sometimes refuses a new connection for a moment (seen in
        # the test suite on a loaded machine: a gRPC GOAWAY "too_many_pings" from the
        # previous client's channel, then "server unavailable"); a second try connects.
        for attempt in range(LITE_CONNECT_TRIES):
            try:
                return MilvusClient(uri=client_uri, token=token or "", timeout=timeout)
            except MilvusException:
                if attempt == LITE_CONNECT_TRIES - 1:
                    raise
                time.sleep(1.0 + attempt)
    except MilvusException as e:
        hint = ""
        if client_uri == uri and uri.endswith(".db"):
            hint = (
                "; Milvus Lite opens a .db folder from one process at a time: is another using it?"
            )
        raise MilvusError(f"{uri}: cannot connect to Milvus ({_reason(e)}){hint}") from None
    except (OSError, RuntimeError, ValueError) as e:  # Milvus Lite cannot open its folder
        raise MilvusError(f"{uri}: cannot open the Milvus Lite catalog ({e})") from None


def release_local(uri: str) -> None:
    """Stop this process's embedded Milvus Lite server for ``uri``, so another process can open it.

    Milvus Lite serves a ``.db`` folder from one process at a time (it locks the folder)
    and keeps it open until the process exits. Server URIs: nothing to do.
    """
    if isinstance(uri, str) and uri.endswith(".db") and "://" not in uri:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def _reason(error: BaseException) -> str:
    """The message of a pymilvus exception without its class-name wrapper."""
    return str(getattr(error, "message", None) or error)


def call(where: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, with a Milvus failure raised as MilvusError naming ``where``."""
    from pymilvus.exceptions import MilvusException

    try:
        return fn(*args, **kwargs)
    except MilvusException as e:
        if getattr(e, "code", None) == _COLLECTION_NOT_FOUND:
            raise MilvusError(f"{where}: collection not found ({_reason(e)})") from None
        raise MilvusError(f"{where}: {what} failed ({_reason(e)})") from None


@dataclass(frozen=True)
class CatalogMetadata:
    """What a published collection says about itself (its ``deepproduct.*`` properties).

    Attributes:
        fingerprint: ``sha256:<hex>`` of the model whose embeddings the rows are.
        dim: vector length.
        dtype: the ``.dpi`` storage type the rows came from (``float32`` or ``int8``).
        rows: number of rows.
        content: sha256 of the ids and vectors (publishing the same index is a no-op).
        index_type: the Milvus index (``FLAT``, ``HNSW``, ``IVF_SQ8``).
        alias: the catalog name the collection was published under.
    """

    fingerprint: str
    dim: int
    dtype: str
    rows: int
    content: str
    index_type: str
    alias: str

    def to_properties(self) -> dict[str, str]:
        """The collection properties that record this metadata."""
        values = {"version": META_VERSION, **self.__dict__}
        return {PROPERTY_PREFIX + key: str(value) for key, value in values.items()}

    @classmethod
    def from_properties(cls, properties: dict[str, Any], where: str) -> CatalogMetadata:
        """Read the metadata back.

        Raises:
            MilvusError: a property is missing or malformed (not a published catalog).
        """
        props = {
            k[len(PROPERTY_PREFIX) :]: str(v)
            for k, v in (properties or {}).items()
            if k.startswith(PROPERTY_PREFIX)
        }
        if not props:
            raise MilvusError(
                f"{where}: not a DeepProduct catalog (no deepproduct.* properties); "
                "publish one with 'deepproduct publish'"
            )
        try:
            if int(props["version"]) != META_VERSION:
                raise MilvusError(
                    f"{where}: catalog metadata version {props['version']} is not supported "
                    f"(this version reads {META_VERSION})"
                )
            meta = cls(
                fingerprint=normalize_fingerprint(props["fingerprint"]),
                dim=int(props["dim"]),
                dtype=props["dtype"],
                rows=int(props["rows"]),
                content=props["content"],
                index_type=props["index_type"],
                alias=props["alias"],
            )
        except (KeyError, ValueError) as e:
            raise MilvusError(f"{where}: damaged catalog metadata ({e})") from None
        if meta.dtype not in ("float32", "int8") or meta.index_type not in INDEX_TYPES:
            raise MilvusError(f"{where}: damaged catalog metadata ({props})")
        return meta


def read_metadata(client: Any, name: str, where: str) -> tuple[str, CatalogMetadata]:
    """The collection behind ``name`` (an alias or a collection) and its metadata.

    Raises:
        MilvusError: no such collection, or it is not a published catalog.
    """
    if not call(where, "looking up the collection", client.has_collection, name):
        raise MilvusError(
            f"{where}: collection not found; publish it first "
            f"(deepproduct publish --index catalog.dpi --collection {name})"
        )
    info = call(where, "reading the collection", client.describe_collection, name)
    return info["collection_name"], CatalogMetadata.from_properties(info.get("properties"), where)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Stored index rows (unit float32, or int8 codes) as the unit float32 rows Milvus holds."""
    v64 = np.asarray(vectors, np.float64)
    return (v64 / np.sqrt(np.einsum("ij,ij->i", v64, v64))[:, None]).astype(np.float32)


def index_params(index_type: str, rows: int) -> dict[str, Any]:
    """Build parameters of each index type (IVF's list count grows with the catalog)."""
    if index_type == "HNSW":
        return {"M": 16, "efConstruction": 200}
    if index_type == "IVF_SQ8":
        return {"nlist": max(1, min(65536, rows, int(4 * math.sqrt(max(rows, 1)))))}
    return {}


class MilvusIndex:
    """A published catalog in Milvus, with the ``search`` of :class:`ProductIndex`.

    Args:
        uri: where Milvus is (see the module docstring); default a local Milvus Lite file.
        collection: the catalog's name (the alias ``deepproduct publish`` switched).
        token: ``user:password`` or an API key, for servers with authentication.
        expected_fingerprint: if given, the fingerprint of the model that will embed
            the queries; the catalog must have been published from an index of it.
        timeout: seconds to wait for Milvus on each call.
        ef: HNSW search breadth (at least the number of rows asked for).
        nprobe: IVF lists searched per query.

    Raises:
        MilvusError: Milvus cannot be reached, the collection does not exist, or it is
            not a catalog written by ``deepproduct publish``.
        FingerprintMismatchError: ``expected_fingerprint`` differs from the catalog's.
        IndexFormatError: bad collection name.
    """

    backend = "milvus"

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        collection: str = DEFAULT_COLLECTION,
        *,
        token: str | None = None,
        expected_fingerprint: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        ef: int = DEFAULT_HNSW_EF,
        nprobe: int = DEFAULT_IVF_NPROBE,
    ) -> None:
        self._name = check_collection_name(collection)
        self._uri = uri
        self._source = f"{uri} collection {collection}"
        expected = (
            None if expected_fingerprint is None else normalize_fingerprint(expected_fingerprint)
        )
        self._client = connect(uri, token, timeout)
        try:
            self._collection, self._meta = read_metadata(self._client, self._name, self._source)
            call(self._source, "loading the collection", self._client.load_collection, self._name)
        except BaseException:
            self.close()
            raise
        self._ef = int(ef)
        self._nprobe = int(nprobe)
        if expected is not None and expected != self._meta.fingerprint:
            self.close()
            raise FingerprintMismatchError(
                f"{self._source}: catalog was published from model "
                f"{self._meta.fingerprint[7:23]}..., but the queries come from model "
                f"{expected[7:23]}...; publish an index built with this model"
            )

    # ----------------------------------------------------------------- properties

    def __len__(self) -> int:
        """Number of rows (catalog vectors), as published."""
        return self._meta.rows

    def __repr__(self) -> str:
        return (
            f"MilvusIndex({self._source!r}, rows={self._meta.rows}, dim={self._meta.dim}, "
            f"index_type={self._meta.index_type!r}, fingerprint={self._meta.fingerprint[7:19]}...)"
        )

    @property
    def source(self) -> str:
        """What errors about this catalog name it: ``"<uri> collection <name>"``."""
        return self._source

    @property
    def fingerprint(self) -> str:
        """Model fingerprint of the catalog, ``"sha256:<hex>"``."""
        return self._meta.fingerprint

    @property
    def dim(self) -> int:
        """Vector length (the name ``ProductIndex`` uses)."""
        return self._meta.dim

    @property
    def dimension(self) -> int:
        """Vector length (same as :attr:`dim`)."""
        return self._meta.dim

    @property
    def dtype(self) -> str:
        """The storage type of the ``.dpi`` the catalog was published from."""
        return self._meta.dtype

    @property
    def index_type(self) -> str:
        """The Milvus index: ``FLAT``, ``HNSW`` or ``IVF_SQ8``."""
        return self._meta.index_type

    @property
    def collection(self) -> str:
        """The Milvus collection the alias points to now."""
        return self._collection

    @property
    def metadata(self) -> CatalogMetadata:
        """The catalog's published metadata."""
        return self._meta

    # ------------------------------------------------------------------ searching

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        """The unit float32 vector Milvus is queried with (int8 catalogs: the query's codes).

        Raises:
            VectorError: wrong length, not finite or all zeros.
        """
        q = check_vector(vector, self._meta.dim, "query vector")  # (1, D)
        if self._meta.dtype == "int8":
            q = quantize_int8(q).astype(np.float32)
        return unit_rows(q)[0]

    def _search_params(self, limit: int) -> dict[str, Any]:
        if self._meta.index_type == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(self._ef, limit)}}
        if self._meta.index_type == "IVF_SQ8":
            return {"metric_type": "IP", "params": {"nprobe": self._nprobe}}
        return {"metric_type": "IP", "params": {}}

    def search(
        self, vector: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[SearchResult]:
        """The ``k`` products most similar to ``vector``, one result per product, best first.

        Rows come back from Milvus best first; a product is reported once, at its best
        row. When the rows asked for hold fewer than ``k`` products, it asks again for
        four times as many, up to Milvus's limit of ``MAX_TOP_K`` rows.

        Args:
            vector: (D,) query embedding, finite, not all zero (need not be unit length).
            k: at most this many results, 1 to ``MAX_TOP_K``.
            min_score: if given, drop results scoring below it.

        Returns:
            Up to ``k`` results.

        Raises:
            VectorError: bad query vector.
            IndexFormatError: bad ``k`` or ``min_score``.
            MilvusError: Milvus failed (unreachable, collection dropped).
        """
        threshold = _check_k(k, min_score)
        query = self.query_vector(vector).tolist()
        limit = min(MAX_TOP_K, max(2 * int(k), 16))
        while True:
            hits = call(
                self._source,
                "search",
                self._client.search,
                self._name,
                data=[query],
                limit=limit,
                output_fields=[ID_FIELD],
                search_params=self._search_params(limit),
            )[0]
            # equal scores: the lower row first, as ProductIndex ranks them
            rows = sorted(
                ((float(h["distance"]), int(h[ROW_FIELD]), h["entity"][ID_FIELD]) for h in hits),
                key=lambda t: (-t[0], t[1]),
            )
            found: dict[str, float] = {}
            for score, _, product_id in rows:
                if score < threshold or len(found) == k:
                    break
                found.setdefault(product_id, score)
            exhausted = len(hits) < limit or limit == MAX_TOP_K
            if len(found) == k or exhausted or (rows and rows[-1][0] < threshold):
                return [SearchResult(p, s) for p, s in found.items()]
            limit = min(MAX_TOP_K, 4 * limit)

    def close(self) -> None:
        """Close the connection (the collection stays in Milvus)."""
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a dead connection is not an error
                pass

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_k(k: object, min_score: object) -> float:
    """The score threshold (``-inf`` for none), or IndexFormatError for bad ``k``/``min_score``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_TOP_K:
        raise IndexFormatError(f"k must be an int from 1 to {MAX_TOP_K}, got {k!r}")
    if min_score is None:
        return -math.inf
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.floating)):
        raise IndexFormatError(f"min_score must be a number or None, got {min_score!r}")
    if math.isnan(min_score):
        raise IndexFormatError("min_score must not be NaN")
    return float(min_score)
