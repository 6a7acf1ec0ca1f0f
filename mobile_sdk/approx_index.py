"""Approximate nearest-neighbour search for large catalogs: an HNSW graph over int8 rows.

The exact ``ProductIndex`` reads every row per query; this index asks a USearch HNSW
graph (built over the same int8 codes, cosine) for some dozens of candidate rows, then
scores those candidates exactly by INDEX_FORMAT.md section 4 and ranks them like
``ProductIndex.search``. Returned scores are therefore the exact scores; only which rows
were looked at is approximate (recall below 1 means a true top row was never offered).
The exact index stays the default and the reference; see the README for when to switch.

File (``*.hnsw``), all integers little-endian:

    offset  size  field
    0       4     magic "DPAX"
    4       2     version, 1
    6       2     flags, 0
    8       4     dimension D
    12      4     count N (rows; the graph's keys are row numbers 0..N-1)
    16      4     connectivity (M)
    20      4     expansion_add (ef at build time)
    24      4     expansion_search (ef at query time)
    28      4     CRC-32 of the ``.dpi`` file it was built from (that file's stored checksum)
    32      32    model fingerprint (raw SHA-256 bytes, as in the .dpi)
    64      8     payload length P
    72      P     the USearch index (``Index.save`` bytes)
    72 + P  4     CRC-32 of every preceding byte

A reader refuses, naming the file: a wrong magic, version or flags, a size that is not
``76 + P``, a checksum mismatch, and a file built from another index (dimension, count,
fingerprint or the ``.dpi`` checksum differ). Queries map the payload from the file
(``Index.restore(..., view=True)``) instead of reading it into memory.

Needs the ``approx`` extra (``pip install 'deepproduct[approx]'``: USearch).
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from mobile_sdk.atomic_file import atomic_path
from mobile_sdk.command import missing_extra
from mobile_sdk.index import IndexFormatError, ProductIndex, SearchResult, _check_k
from mobile_sdk.quantization import check_vector, int8_dots, inv_norms, quantize_int8

MAGIC = b"DPAX"
VERSION = 1
HEADER = struct.Struct("<4sHHIIIIII32sQ")
_CRC_BLOCK = 1 << 24
# Candidate rows asked of the graph per query: at least the file's expansion_search, and
# at least CANDIDATE_FACTOR times k (products can have several rows, and the exact
# re-ranking needs a margin over k). USearch explores max(ef, candidates) nodes, so this
# number is what a query costs. Defaults chosen on 1M clustered rows
# (benchmarks/approx_search.py, README "Query path speed"): M=32 with 64 candidates gave
# recall@10 1.000 where M=16 needed 160 for 0.994, at two thirds of the time.
DEFAULT_CONNECTIVITY = 32
DEFAULT_EXPANSION_ADD = 128
DEFAULT_EXPANSION_SEARCH = 64  # up to DEFAULT_SEARCH_ROWS rows; see default_expansion_search
DEFAULT_SEARCH_ROWS = 1_000_000
# At 3M clustered rows, 64 candidates gave recall@10 0.9125, 96 0.9825, 128 0.9975 (192 and
# 256: 0.9975, 0.998), session 16: the exponent log(2) / log(3) makes the default 128 there.
_SEARCH_GROWTH = math.log(2) / math.log(3)
CANDIDATE_FACTOR = 6
MAX_GRAPH_PARAMETER = 4096  # largest M, ef at build and ef at query a build accepts


def default_expansion_search(rows: int) -> int:
    """The query-time candidate count a graph over ``rows`` rows gets by default.

    64 up to 1M rows; above that ``64 * (rows / 1M) ** (log 2 / log 3)`` to the nearest
    multiple of 16, which is 128 at 3M rows, the fewest candidates that reached recall@10 >= 0.99
    there (``benchmarks/approx_search.py``'s clustered rows). Beyond 3M the curve is
    extrapolated, not measured (10M: 272). Each query costs about as many more graph
    nodes (3M rows, back to back: 64 candidates 1.3 ms, 128 1.7 ms).
    """
    if rows <= DEFAULT_SEARCH_ROWS:
        return DEFAULT_EXPANSION_SEARCH
    grown = DEFAULT_EXPANSION_SEARCH * (rows / DEFAULT_SEARCH_ROWS) ** _SEARCH_GROWTH
    return min(MAX_GRAPH_PARAMETER, 16 * round(grown / 16))


def _usearch():
    try:
        from usearch.index import Index
    except ModuleNotFoundError as e:
        raise missing_extra("approx", [e.name or "usearch"]) from None
    return Index


def build_approx_index(
    index: ProductIndex,
    out: str | os.PathLike,
    connectivity: int = DEFAULT_CONNECTIVITY,
    expansion_add: int = DEFAULT_EXPANSION_ADD,
    expansion_search: int | None = None,
    threads: int = 0,
    progress: bool = False,
) -> None:
    """Build the HNSW graph over an int8 index loaded from a file, and write it to ``out``.

    Args:
        index: an int8 ``ProductIndex`` loaded from its ``.dpi`` file (unchanged since).
        out: the file to write (atomically).
        connectivity, expansion_add: HNSW's M and ef_construction.
        expansion_search: HNSW's ef at query time, also the fewest candidate rows a
            query asks of the graph (``ApproxIndex.search``); ``None``: by the row count,
            ``default_expansion_search(len(index))``.
        threads: build threads (0: all cores).
        progress: show USearch's progress bar.

    Raises:
        IndexFormatError: a float32 index, an empty one, or one not loaded from a file.
        MissingExtraError: USearch is not installed.
        OutputError: ``out`` cannot be written.
    """
    if index.dtype != "int8":
        raise IndexFormatError(
            f"{index.source}: the approximate index is built over int8 rows; this index is "
            f"{index.dtype} (rebuild it with --dtype int8)"
        )
    if len(index) == 0:
        raise IndexFormatError(f"{index.source}: the index is empty")
    if index.checksum is None:
        raise IndexFormatError(
            f"{index.source}: save the index to a file first: the approximate index "
            "records which file it was built from"
        )
    for name, value in (("connectivity", connectivity), ("expansion_add", expansion_add)):
        if not 2 <= value <= MAX_GRAPH_PARAMETER:
            raise IndexFormatError(f"{name} must be 2 to {MAX_GRAPH_PARAMETER}, got {value}")
    if expansion_search is None:
        expansion_search = default_expansion_search(len(index))
    if not 1 <= expansion_search <= MAX_GRAPH_PARAMETER:
        raise IndexFormatError(
            f"expansion_search must be 1 to {MAX_GRAPH_PARAMETER}, got {expansion_search}"
        )
    graph = _usearch()(
        ndim=index.dim,
        metric="cos",
        dtype="i8",
        connectivity=connectivity,
        expansion_add=expansion_add,
        expansion_search=expansion_search,
    )
    graph.add(np.arange(len(index), dtype=np.uint64), index.vectors, threads=threads, log=progress)
    payload = graph.save()
    header = HEADER.pack(
        MAGIC,
        VERSION,
        0,
        index.dim,
        len(index),
        connectivity,
        expansion_add,
        expansion_search,
        index.checksum,
        bytes.fromhex(index.fingerprint[7:]),
        len(payload),
    )
    crc = zlib.crc32(payload, zlib.crc32(header))
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        f.write(header)
        f.write(payload)
        f.write(struct.pack("<I", crc))


class ApproxIndex:
    """An HNSW graph over the rows of a ``ProductIndex``, searched like it (see module doc).

    Use :meth:`load`; the exact index supplies the ids, codes and exact scores.
    """

    def __init__(self, graph, index: ProductIndex, source: str, expansion_search: int) -> None:
        self._graph = graph
        self._index = index
        self._source = source
        self.expansion_search = expansion_search
        self._mapped: tuple = ()

    @property
    def source(self) -> str:
        """The file the graph was loaded from."""
        return self._source

    @property
    def index(self) -> ProductIndex:
        """The exact index whose rows the graph covers."""
        return self._index

    @property
    def fingerprint(self) -> str:
        """The model fingerprint (the exact index's)."""
        return self._index.fingerprint

    @property
    def dim(self) -> int:
        """Embedding length."""
        return self._index.dim

    @classmethod
    def load(cls, path: str | os.PathLike, index: ProductIndex) -> ApproxIndex:
        """Map an approximate index file and check that it belongs to ``index``.

        Raises:
            IndexFormatError: the file is missing, not an approximate index, of another
                version, truncated or corrupt, or built from another index file; the
                message names the file.
            MissingExtraError: USearch is not installed.
        """
        path = Path(path)

        def fail(problem: str) -> IndexFormatError:
            return IndexFormatError(f"{path}: {problem}")

        Index = _usearch()
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise fail("approximate index file not found") from None
        except IsADirectoryError:
            raise fail("is a folder, not an approximate index file") from None
        except OSError as e:
            raise fail(f"cannot read ({e.strerror or e})") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(HEADER.size)
            if len(head) < 4 or head[:4] != MAGIC:
                raise fail(
                    f"not an approximate index (starts with {head[:4]!r}, expected {MAGIC!r})"
                )
            if len(head) < HEADER.size:
                raise fail(f"truncated: {size} bytes, the header alone is {HEADER.size}")
            (_, version, flags, dim, count, _m, _ef_add, ef_search, source_crc, fingerprint, n) = (
                HEADER.unpack(head)
            )
            if version != VERSION:
                raise fail(f"unsupported approximate index version {version} (this reader: 1)")
            if flags != 0:
                raise fail(f"reserved flags are {flags}, must be 0")
            if size != HEADER.size + n + 4:
                raise fail(
                    f"{'truncated' if size < HEADER.size + n + 4 else 'unexpected bytes'}: "
                    f"{size} bytes, the header calls for {HEADER.size + n + 4}"
                )
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mapped)
        crc = 0
        for start in range(0, size - 4, _CRC_BLOCK):
            crc = zlib.crc32(view[start : min(start + _CRC_BLOCK, size - 4)], crc)
        (stored,) = struct.unpack("<I", view[size - 4 :])
        if crc != stored:
            raise fail(
                f"checksum mismatch (stored CRC-32 {stored:08x}, computed {crc:08x}): "
                "the file is corrupt"
            )
        theirs = (dim, count, fingerprint.hex(), source_crc)
        ours = (index.dim, len(index), index.fingerprint[7:], index.checksum)
        if theirs != ours:
            raise fail(
                f"built from another index (dimension, rows, model, .dpi checksum: "
                f"{dim}, {count}, {fingerprint.hex()[:12]}..., {source_crc:08x}), not from "
                f"{index.source} ({index.dim}, {len(index)}, {index.fingerprint[7:19]}..., "
                f"{(index.checksum or 0):08x}); rebuild it with 'deepproduct approx-index'"
            )
        payload = view[HEADER.size : HEADER.size + n]
        try:
            graph = Index.restore(payload, view=True)
        except Exception as e:  # USearch raises RuntimeError/ValueError on bad payloads
            raise fail(f"the HNSW payload cannot be read ({e})") from None
        if graph is None or graph.ndim != dim or len(graph) != count:
            raise fail("the HNSW payload does not match its header")
        graph.expansion_search = ef_search
        approx = cls(graph, index, str(path), ef_search)
        # USearch reads the mapped bytes without holding them: they live as long as this
        approx._mapped = (mapped, view, payload)
        return approx

    def search(
        self, vector: np.ndarray, k: int = 5, min_score: float | None = None
    ) -> list[SearchResult]:
        """Like ``ProductIndex.search``, over the candidate rows the graph offers.

        The graph is asked for ``max(expansion_search, 6 * k)`` rows (64 for k up to
        10 with the default file), which are scored exactly.

        Scores are the exact int8 scores; ranking is by score, then row. Fewer than ``k``
        products come back when the candidates hold fewer.

        Raises:
            VectorError: bad query vector.
            IndexFormatError: bad ``k`` or ``min_score``.
        """
        threshold = _check_k(k, min_score)
        query = check_vector(vector, self._index.dim, "query vector")
        codes = quantize_int8(query)
        want = min(len(self._index), max(self.expansion_search, CANDIDATE_FACTOR * int(k)))
        matches = self._graph.search(codes[0], want, threads=1)
        rows = np.sort(np.asarray(matches.keys, dtype=np.int64))
        rows = rows[(rows >= 0) & (rows < len(self._index))]
        index = self._index
        dots = int8_dots(index.vectors[rows], codes)[0]
        scores = (dots * index._inv_norms[rows]) * inv_norms(codes)[0]
        order = np.lexsort((rows, -scores))
        found: dict[str, float] = {}
        for i in order:
            if scores[i] < threshold:
                break
            product_id = index._id_of(int(rows[i]))
            if product_id not in found:
                found[product_id] = float(scores[i])
                if len(found) == int(k):
                    break
        return [SearchResult(p, s) for p, s in found.items()]
