"""Product index: catalog embeddings -> nearest products for a query embedding.

One row per catalog image, each tagged with its product id (a product may have
several rows). :meth:`ProductIndex.search` scores every row by cosine similarity
and returns one result per product (its best row), best first.

Two storage types:

- ``float32``: unit-length float32 rows, scored with one BLAS matrix-vector
  product. Exact up to float rounding (the summation order is BLAS's own).
- ``int8``: rows quantized to int8 codes, a quarter of the memory. Scores are the
  cosine of the integer codes (the query is quantized by the same rule), computed
  with exact integer arithmetic and correctly rounded float64 operations, so every
  implementation that follows ``INDEX_FORMAT.md`` scores and ranks bit for bit alike.

The file format, the quantization rule and the scoring rule are specified in
``mobile_sdk/INDEX_FORMAT.md``; with ``index_format`` (the file codec) and
``quantization`` (int8 codes and exact scoring) this module is its reference
implementation. Building an index from a catalog folder is ``catalog_index``'s job.
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from mobile_sdk.atomic_file import atomic_path
from mobile_sdk.errors import DeepProductError
from mobile_sdk.index_format import (
    DTYPE_CODES,
    FORMAT_VERSION,
    MAGIC,
    MAX_COUNT,
    MAX_DIM,
    MAX_ID_BYTES,
    NP_DTYPES,
    FingerprintMismatchError,
    IndexFormatError,
    encode_id,
    fingerprint_bytes,
    normalize_fingerprint,
    read_index,
    write_index,
)
from mobile_sdk.quantization import (
    BLOCK_ELEMENTS,
    QUANT_LEVELS,
    VectorError,
    check_vector,
    check_vectors,
    int8_dots,
    inv_norms,
    quantize_int8,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_COUNT",
    "MAX_DIM",
    "MAX_ID_BYTES",
    "QUANT_LEVELS",
    "EmbedderLike",
    "FingerprintMismatchError",
    "IndexFormatError",
    "ProductIndex",
    "ProductNotFoundError",
    "SearchResult",
    "VectorError",
    "fingerprint_mismatch",
    "normalize_fingerprint",
    "quantize_int8",
]

# ProductIndex.load maps index files at least this large instead of reading them
MEMORY_MAP_BYTES = 1 << 24
_SCORE_BUFFER_BYTES = 1 << 26  # batch search scores at most this many bytes of scores at once
_BOUND_BLOCK_ROWS = 64  # rows per block when bounding the k-th best score (see _top)


class ProductNotFoundError(DeepProductError, KeyError):
    """No row of the index has the requested product id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class SearchResult:
    """One product found by :meth:`ProductIndex.search`.

    Attributes:
        product_id: the product.
        score: cosine similarity of its best row with the query, in [-1, 1].
    """

    product_id: str
    score: float


class EmbedderLike(Protocol):
    """What :meth:`ProductIndex.build` needs of an embedder (``mobile_sdk.embedder.Embedder``)."""

    @property
    def fingerprint(self) -> str:
        """Hex sha256 (optionally ``sha256:``-prefixed) identifying the model weights."""
        ...

    @property
    def embedding_dim(self) -> int:
        """Length of the embeddings."""
        ...

    def embed_batch(
        self, images: Iterable[str | os.PathLike], crop_fraction: float | None = None
    ) -> np.ndarray:
        """Embed images (paths) into an (N, D) array, in order; ``crop_fraction``
        (passed only for ``build``'s ``extra_crops``) replaces the model's centre crop."""
        ...


def fingerprint_mismatch(index: ProductIndex, model_fingerprint: str) -> FingerprintMismatchError:
    """The error for an index queried with embeddings of another model (its fingerprint)."""
    return FingerprintMismatchError(
        f"{index.source}: index was built with model {index.fingerprint[7:23]}..., but the "
        f"queries come from model {fingerprint_bytes(model_fingerprint).hex()[:16]}...; "
        "rebuild the index with this model"
    )


def _check_k(k: object, min_score: object) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise IndexFormatError(f"k must be a positive int, got {k!r}")
    if min_score is None:
        return -math.inf
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.floating)):
        raise IndexFormatError(f"min_score must be a number or None, got {min_score!r}")
    if math.isnan(min_score):
        raise IndexFormatError("min_score must not be NaN")
    return float(min_score)


def _grow(array: np.ndarray, needed: int) -> np.ndarray:
    """``array`` with room for at least ``needed`` leading entries (amortised doubling)."""
    if needed <= len(array):
        return array
    grown = np.empty((max(needed, 2 * len(array), 16), *array.shape[1:]), array.dtype)
    grown[: len(array)] = array
    return grown


class ProductIndex:
    """An in-memory product index; see the module docstring and INDEX_FORMAT.md.

    Args:
        dim: embedding length, 1 to ``MAX_DIM``.
        fingerprint: sha256 of the model that made the embeddings, 64 hex digits
            (``"sha256:"`` prefix allowed); an index only answers queries of that model.
        dtype: ``"float32"`` or ``"int8"``.

    Raises:
        IndexFormatError: bad dim, fingerprint or dtype.
    """

    def __init__(self, dim: int, fingerprint: str, dtype: str = "float32") -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise IndexFormatError(f"dim must be an int, got {dim!r}")
        if not 1 <= dim <= MAX_DIM:
            raise IndexFormatError(f"dim must be 1 to {MAX_DIM}, got {dim}")
        if dtype not in DTYPE_CODES:
            raise IndexFormatError(f"dtype must be 'float32' or 'int8', got {dtype!r}")
        self._dim = int(dim)
        self._dtype = dtype
        self._fingerprint = fingerprint_bytes(fingerprint)
        self._n = 0
        self._vectors = np.empty((0, self._dim), NP_DTYPES[dtype])
        # int8 only: 1 / sqrt(sum of squared codes) per row, as the scoring rule defines it.
        self._inv_norms = np.empty(0, np.float64)
        self._id_ends = np.empty(0, np.int64)  # end offset of each row's id in _id_blob
        self._id_blob = np.empty(0, np.uint8)  # concatenated UTF-8 ids
        self._source = "index"
        self._checksum: int | None = None  # the file's CRC-32, when loaded from one

    # ----------------------------------------------------------------- properties

    def __len__(self) -> int:
        """Number of rows (catalog vectors); see :attr:`product_ids` for products."""
        return self._n

    def __repr__(self) -> str:
        return (
            f"ProductIndex(rows={self._n}, dim={self._dim}, dtype={self._dtype!r}, "
            f"fingerprint={self._fingerprint.hex()[:12]}...)"
        )

    @property
    def dim(self) -> int:
        """Embedding length."""
        return self._dim

    @property
    def source(self) -> str:
        """What errors about this index name it: the file it was loaded from, or ``"index"``."""
        return self._source

    @property
    def dtype(self) -> str:
        """Storage type: ``"float32"`` or ``"int8"``."""
        return self._dtype

    @property
    def fingerprint(self) -> str:
        """Model fingerprint: ``"sha256:"`` + 64 lowercase hex digits, as in the model metadata."""
        return "sha256:" + self._fingerprint.hex()

    @property
    def nbytes(self) -> int:
        """Bytes of memory held by the vectors, their norms and the ids."""
        return sum(a.nbytes for a in (self._vectors, self._inv_norms, self._id_ends, self._id_blob))

    @property
    def checksum(self) -> int | None:
        """The CRC-32 stored in the file this index was loaded from (None if not loaded,
        or changed since by ``add``/``remove``); ties derived files such as an
        approximate index to these exact rows."""
        return self._checksum

    @property
    def memory_mapped(self) -> bool:
        """Whether the vectors are a read-only map of the file they were loaded from."""
        base = self._vectors
        while isinstance(base, np.ndarray):
            base = base.base
        return isinstance(base.obj if isinstance(base, memoryview) else base, mmap.mmap)

    @property
    def row_ids(self) -> list[str]:
        """The product id of every row, in row order."""
        ends = self._id_ends[: self._n].tolist()
        blob = self._id_blob[: ends[-1] if ends else 0].tobytes()
        return [blob[s:e].decode("utf-8") for s, e in zip([0, *ends][:-1], ends, strict=True)]

    @property
    def product_ids(self) -> list[str]:
        """Distinct product ids, in order of their first row."""
        return list(dict.fromkeys(self.row_ids))

    @property
    def vectors(self) -> np.ndarray:
        """Read-only view of the stored rows: unit float32 vectors, or int8 codes."""
        view = self._vectors[: self._n].view()
        view.flags.writeable = False
        return view

    def _id_of(self, row: int) -> str:
        start = int(self._id_ends[row - 1]) if row else 0
        return self._id_blob[start : int(self._id_ends[row])].tobytes().decode("utf-8")

    def _id_starts(self) -> np.ndarray:
        ends = self._id_ends[: self._n]
        return np.concatenate(([0], ends[:-1])) if self._n else ends

    # ------------------------------------------------------------------- building

    @classmethod
    def from_arrays(
        cls,
        ids: Sequence[str],
        vectors: np.ndarray,
        fingerprint: str,
        dtype: str = "float32",
    ) -> ProductIndex:
        """Build an index from all rows at once (vectorised; use for large catalogs).

        Args:
            ids: the product id of each row (repeats allowed: several rows per product).
            vectors: (N, D) real array, finite, no all-zero row; stored L2-normalised
                (float32) or quantized (int8).
            fingerprint: the model fingerprint (see the constructor).
            dtype: ``"float32"`` or ``"int8"``.

        Returns:
            The index, rows in the given order.

        Raises:
            IndexFormatError: bad ids, fingerprint or dtype, or more than ``MAX_COUNT`` rows.
            VectorError: bad vectors, or their count differs from the ids'.
        """
        try:
            vectors = np.asarray(vectors)
        except (TypeError, ValueError) as e:
            raise VectorError(f"vectors: not an array of numbers ({e})") from None
        shape = vectors.shape
        if len(shape) != 2:
            raise VectorError(f"vectors must be a 2-D (N, D) array, got shape {shape}")
        index = cls(shape[1], fingerprint, dtype)
        if len(ids) != shape[0]:
            raise VectorError(f"{len(ids)} ids but {shape[0]} vectors")
        if len(ids) > MAX_COUNT:
            raise IndexFormatError(f"{len(ids)} rows exceed the limit of {MAX_COUNT}")
        encoded = [encode_id(i) for i in ids]
        n = len(encoded)
        index._vectors = np.empty((n, index._dim), NP_DTYPES[dtype])
        if dtype == "int8":
            index._inv_norms = np.empty(n, np.float64)
        step = max(1, BLOCK_ELEMENTS // index._dim)
        for start in range(0, n, step):
            block = check_vectors(vectors[start : start + step], index._dim, "vectors")
            index._store(start, block)
        index._id_ends = np.cumsum(np.fromiter(map(len, encoded), np.int64, n))
        index._id_blob = np.frombuffer(b"".join(encoded), np.uint8).copy()
        index._n = n
        return index

    def _store(self, row: int, block: np.ndarray) -> None:
        """Encode checked float32 rows into storage at ``row`` (capacity already there)."""
        end = row + len(block)
        if self._dtype == "int8":
            codes = quantize_int8(block)
            self._vectors[row:end] = codes
            self._inv_norms[row:end] = inv_norms(codes)
        else:
            v64 = block.astype(np.float64)
            self._vectors[row:end] = v64 / np.sqrt(np.einsum("ij,ij->i", v64, v64))[:, None]

    def add(self, product_id: str, vector: np.ndarray) -> None:
        """Append one row for ``product_id`` (call again to give a product more rows).

        Args:
            product_id: 1 to ``MAX_ID_BYTES`` bytes of UTF-8.
            vector: (D,) real vector, finite and not all zero; stored L2-normalised
                (float32) or quantized (int8).

        Raises:
            IndexFormatError: bad product id, or the index is full (``MAX_COUNT`` rows).
            VectorError: wrong length, not finite, or all zeros.
        """
        encoded = encode_id(product_id)
        v = check_vector(vector, self._dim, f"vector for product {product_id!r}")
        if self._n >= MAX_COUNT:
            raise IndexFormatError(f"index is full ({MAX_COUNT} rows)")
        n = self._n
        blob_end = int(self._id_ends[n - 1]) if n else 0
        self._vectors = _grow(self._vectors, n + 1)
        self._id_ends = _grow(self._id_ends, n + 1)
        self._id_blob = _grow(self._id_blob, blob_end + len(encoded))
        if self._dtype == "int8":
            self._inv_norms = _grow(self._inv_norms, n + 1)
        self._store(n, v)
        self._id_blob[blob_end : blob_end + len(encoded)] = np.frombuffer(encoded, np.uint8)
        self._id_ends[n] = blob_end + len(encoded)
        self._n = n + 1
        self._checksum = None

    def _rows_of(self, encoded: bytes) -> np.ndarray:
        """Row numbers whose id is exactly ``encoded``."""
        starts = self._id_starts()
        lengths = self._id_ends[: self._n] - starts
        candidates = np.flatnonzero(lengths == len(encoded))
        target = np.frombuffer(encoded, np.uint8)
        offsets = np.arange(len(encoded))
        hits = []
        for chunk in np.array_split(candidates, max(1, len(candidates) // 65536)):
            same = (self._id_blob[starts[chunk, None] + offsets] == target).all(axis=1)
            hits.append(chunk[same])
        return np.concatenate(hits) if hits else candidates

    def remove(self, product_id: str) -> int:
        """Remove every row of ``product_id``; the other rows keep their order.

        Returns:
            How many rows were removed (>= 1).

        Raises:
            ProductNotFoundError: no row has that id (a ``KeyError``).
        """
        rows = self._rows_of(encode_id(product_id))
        if len(rows) == 0:
            raise ProductNotFoundError(f"product {product_id!r} is not in the index")
        keep = np.ones(self._n, bool)
        keep[rows] = False
        starts = self._id_starts()
        lengths = self._id_ends[: self._n] - starts
        blob_keep = np.repeat(keep, lengths)
        self._id_blob = self._id_blob[: len(blob_keep)][blob_keep]
        self._id_ends = np.cumsum(lengths[keep])
        self._vectors = self._vectors[: self._n][keep]
        if self._dtype == "int8":
            self._inv_norms = self._inv_norms[: self._n][keep]
        self._n = int(keep.sum())
        self._checksum = None
        return len(rows)

    @classmethod
    def build(
        cls,
        embedder: EmbedderLike,
        catalog_dir: str | os.PathLike,
        dtype: str = "float32",
        progress: bool = True,
        batch_size: int = 32,
        extra_crops: Sequence[float] = (),
    ) -> ProductIndex:
        """Embed every catalog image of a dataset and index it (one row per image and view).

        Args:
            embedder: anything with ``fingerprint``, ``embedding_dim`` and
                ``embed_batch(paths) -> (N, D)`` (e.g. ``mobile_sdk.embedder.Embedder``).
            catalog_dir: a dataset root (holding ``catalog/``) or its ``catalog/`` folder.
            dtype: ``"float32"`` or ``"int8"``.
            progress: show a tqdm progress bar.
            batch_size: images per ``embed_batch`` call.
            extra_crops: more views of each catalog image, as centre-crop fractions
                in (0, 1] used instead of the model's (1.0: the whole square image);
                each adds one row per image. ``()``: the model's crop only. The
                ``deepproduct index`` command passes ``(1.0,)`` unless told otherwise
                (``mobile_sdk.commands.DEFAULT_EXTRA_CROPS``; README, Results).

        Returns:
            The index; rows follow ``scan_dataset`` order (products sorted by id,
            their images sorted by path; an image's extra views right after it).

        Raises:
            DatasetError: the folder is not in the standard layout.
            IndexFormatError: a product folder's name is not a valid id (not UTF-8, or
                over ``MAX_ID_BYTES``), or ``extra_crops`` holds a value outside (0, 1]
                or a repeat; checked before any image is embedded.
            VectorError: the embedder returned a bad embedding (the message names the image).
            ImageLoadError: an image cannot be read (from the embedder).
        """
        from mobile_sdk.catalog_index import build_catalog_index

        return build_catalog_index(
            cls, embedder, catalog_dir, dtype, progress, batch_size, extra_crops
        )

    # ------------------------------------------------------------------ searching

    def search(
        self, vector: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[SearchResult]:
        """The ``k`` products most similar to ``vector``, one result per product.

        A product's score is that of its best row. Results are sorted by score,
        best first; equal scores keep row order (the product whose best row comes
        first wins). For int8 the query is quantized by the same rule as the rows.

        Args:
            vector: (D,) query embedding, finite, not all zero (need not be unit length).
            k: at most this many results.
            min_score: if given, drop results scoring below it.

        Returns:
            Up to ``k`` results (fewer if the index has fewer products or ``min_score``
            cuts them).

        Raises:
            VectorError: bad query vector.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        threshold = _check_k(k, min_score)
        query = check_vector(vector, self._dim, "query vector")
        return self._top(self._scores(query)[0], int(k), threshold)

    def search_batch(
        self, vectors: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[list[SearchResult]]:
        """:meth:`search` for each row of ``vectors`` ((N, D)), with identical results.

        For int8 it reads the rows once per group of queries, so it is faster than
        a loop over :meth:`search`; for float32 it is that loop (see ``_scores``).

        Raises:
            VectorError: bad query vectors.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        threshold = _check_k(k, min_score)
        queries = check_vectors(vectors, self._dim, "query vectors")
        group = max(1, _SCORE_BUFFER_BYTES // (8 * max(self._n, 1)))
        results = []
        for start in range(0, len(queries), group):
            for scores in self._scores(queries[start : start + group]):
                results.append(self._top(scores, int(k), threshold))
        return results

    def scores(self, vector: np.ndarray) -> np.ndarray:
        """Score of every row against one query (float64, row order), as search ranks them.

        Raises:
            VectorError: bad query vector.
        """
        return self._scores(check_vector(vector, self._dim, "query vector"))[0]

    def _scores(self, queries: np.ndarray) -> np.ndarray:
        """(M, N) float64 scores of checked float32 queries against every row."""
        n, m = self._n, len(queries)
        if self._dtype == "float32":
            q64 = queries.astype(np.float64)
            unit = (q64 / np.sqrt(np.einsum("ij,ij->i", q64, q64))[:, None]).astype(np.float32)
            out = np.empty((m, n), np.float64)
            rows = self._vectors[:n]
            for j in range(m):
                # One gemv per query: gemm may round differently, and search_batch
                # must return exactly what search returns.
                out[j] = rows @ unit[j]
            return out
        codes = quantize_int8(queries)
        inv_q = inv_norms(codes)
        out = int8_dots(self._vectors[:n], codes)  # (M, N) float64, exact integers
        # score = (dot * inv_i) * inv_q: two float64 multiplications, in this order
        out *= self._inv_norms[:n]
        out *= inv_q[:, None]
        return out

    def _top(self, scores: np.ndarray, k: int, threshold: float) -> list[SearchResult]:
        """Best ``k`` products by ``scores`` (ties: lower row first), scores >= threshold.

        Exact: it sorts every row scoring at least ``t``, where ``t`` is a lower bound
        of the ``want``-th best score taken from block maxima; if those rows hold
        fewer than ``k`` products and ``t`` cut some rows, ``want`` grows and it retries.
        Block ``j`` holds rows ``j, j + c, j + 2c, ...`` (``c`` = n // 64 columns, the
        last n % 64 rows one more block): any partition gives a valid bound, and a
        column-wise maximum is one vectorised pass where 64-row runs were three times
        slower (1M rows: 0.3 vs 0.9 ms). Only blocks whose maximum reaches ``t`` are read.
        """
        n = len(scores)
        if n == 0:
            return []
        bounds = None
        want = max(4 * k, 32)
        while True:
            rows = None
            if want < n:
                if bounds is None:
                    bounds = _BlockBounds(scores)
                if want <= len(bounds.maxima):
                    cut = float(np.partition(bounds.maxima, -want)[-want])
                    if cut > threshold:
                        rows = bounds.rows_reaching(scores, cut)
            if rows is None:
                cut = threshold
                rows = np.flatnonzero(scores >= cut)
            rows = rows[np.lexsort((rows, -scores[rows]))]
            found: dict[str, float] = {}
            for row in rows:
                product_id = self._id_of(int(row))
                if product_id not in found:
                    found[product_id] = float(scores[row])
                    if len(found) == k:
                        break
            if len(found) == k or cut <= threshold:
                return [SearchResult(p, s) for p, s in found.items()]
            want *= 8

    # ---------------------------------------------------------------- file format

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` in the INDEX_FORMAT.md format, atomically.

        Raises:
            OutputError: the file cannot be written (the old file, if any, is intact).
        """
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            self._write(f)

    def _write(self, f: BinaryIO) -> None:
        n = self._n
        write_index(
            f,
            self._dtype,
            self._dim,
            self._fingerprint,
            self._id_ends[:n],
            self._id_blob,
            self._vectors[:n],
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        expected_fingerprint: str | None = None,
        memory_map: bool | None = None,
    ) -> ProductIndex:
        """Read an index written by :meth:`save` (or any writer following INDEX_FORMAT.md).

        Args:
            path: the index file.
            expected_fingerprint: if given, the fingerprint of the model that will
                embed the queries; the index must have been built with it.
            memory_map: map the file's vectors into memory instead of copying them
                (read-only; ``add``/``remove`` then work on a copy). ``None``: map
                when the vectors take at least ``MEMORY_MAP_BYTES`` (16 MiB). A mapped
                file must not be overwritten in place while the index is in use
                (``save`` replaces files by renaming, which is safe).

        Returns:
            The index.

        Raises:
            IndexFormatError: the file is missing, not an index, of an unsupported
                version, truncated, corrupt (checksum) or breaks a rule of the format.
            FingerprintMismatchError: ``expected_fingerprint`` differs from the file's.
        """
        path = Path(path)
        expected = None if expected_fingerprint is None else fingerprint_bytes(expected_fingerprint)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                mapped = size >= MEMORY_MAP_BYTES if memory_map is None else bool(memory_map)
                data = read_index(f, size, path, memory_map=mapped)
        except FileNotFoundError:
            raise IndexFormatError(f"{path}: index file not found") from None
        except IsADirectoryError:
            raise IndexFormatError(f"{path}: is a folder, not an index file") from None
        except OSError as e:
            raise IndexFormatError(f"{path}: cannot read ({e.strerror or e})") from None
        index = cls(data.dim, data.fingerprint.hex(), data.dtype)
        index._vectors = data.vectors
        index._inv_norms = data.inv_norms
        index._id_ends = np.cumsum(data.lengths, dtype=np.int64)
        index._id_blob = data.id_blob
        index._n = len(data.lengths)
        index._source = str(path)
        index._checksum = data.checksum
        if expected is not None and expected != index._fingerprint:
            raise fingerprint_mismatch(index, "sha256:" + expected.hex())
        return index


class _BlockBounds:
    """Maxima of ``scores`` over blocks of ``_BOUND_BLOCK_ROWS`` rows, for ``_top``.

    With ``c = n // 64``, block ``j < c`` is rows ``j + i * c`` (i = 0..63): one column of
    ``scores[:64 * c].reshape(64, c)``; the remaining ``n % 64`` rows form block ``c``.
    """

    def __init__(self, scores: np.ndarray) -> None:
        self.columns = len(scores) // _BOUND_BLOCK_ROWS
        self.full = self.columns * _BOUND_BLOCK_ROWS
        grid = scores[: self.full].reshape(_BOUND_BLOCK_ROWS, self.columns)
        maxima = grid.max(axis=0) if self.columns else np.empty(0, scores.dtype)
        if self.full < len(scores):
            maxima = np.append(maxima, scores[self.full :].max())
        self.maxima = maxima

    def rows_reaching(self, scores: np.ndarray, cut: float) -> np.ndarray:
        """Ascending indices of the rows with ``scores >= cut`` (same as a full scan)."""
        hit = np.flatnonzero(self.maxima >= cut)
        cols = hit[hit < self.columns]
        rows = (np.arange(_BOUND_BLOCK_ROWS)[:, None] * self.columns + cols[None, :]).ravel()
        if len(hit) and hit[-1] == self.columns:  # the partial last block
            rows = np.concatenate([rows, np.arange(self.full, len(scores))])
        rows = rows[scores[rows] >= cut]
        return rows
