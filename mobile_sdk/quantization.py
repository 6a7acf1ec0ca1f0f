"""int8 quantization and exact int8 scoring (INDEX_FORMAT.md sections 3 and 4).

``quantize_int8`` turns a float32 vector into int8 codes; ``inv_norms`` and
``int8_dots`` compute the parts of the int8 score (the cosine of the codes) with exact
integer arithmetic, so every implementation scores bit for bit alike. The dot products
run on SimSIMD's int8 kernels when SimSIMD is installed (a runtime dependency), else on
numpy/BLAS; both give the same integers. Also the checks
every vector passes before it is quantized, stored or searched with.
"""

from __future__ import annotations

import numpy as np

# SimSIMD, not its successor NumKong (same author, renamed at 7.0): on this project's
# x86 host (AVX-512 VNNI, one thread) SimSIMD 6.5's cdist scores 1M int8 rows of 256 in
# 10.4 ms, NumKong 7.8.6's in 15.1 ms, against a memory-read floor of 7.8 ms (session 16).
try:
    import simsimd as _simsimd
except ImportError:  # no wheel for this platform: the BLAS kernel gives the same integers
    _simsimd = None

from mobile_sdk.errors import DeepProductError
from mobile_sdk.format_spec import load_spec

QUANT_LEVELS = load_spec("index_format")["quant_levels"]  # codes in [-127, 127], never -128
BLOCK_ELEMENTS = 1 << 20  # int8 rows converted to float32 per block: ~4 MB, stays in cache


class VectorError(DeepProductError, ValueError):
    """A vector has the wrong shape, is not finite, or is all zeros."""


def quantize_int8(vectors: np.ndarray) -> np.ndarray:
    """Quantize float32 vectors to int8 codes by the rule of INDEX_FORMAT.md section 3.

    ``code = rint(float64(v) * 127 / max|v|)`` per vector, rounding halves to even
    (Java ``Math.rint``); the largest component becomes +-127.

    Args:
        vectors: (D,) or (N, D) float32, finite, no all-zero vector.

    Returns:
        int8 codes of the same shape, in [-127, 127].

    Raises:
        VectorError: not float32, not finite, or an all-zero vector.
    """
    v = np.asarray(vectors)
    if v.dtype != np.float32:
        raise VectorError(f"quantize_int8 takes float32 vectors, got {v.dtype}")
    if not np.isfinite(v).all():
        raise VectorError("cannot quantize a vector with NaN or infinite components")
    v64 = v.astype(np.float64)
    peak = np.max(np.abs(v64), axis=-1, keepdims=True)
    if (peak == 0).any():
        raise VectorError("cannot quantize an all-zero vector")
    # v * 127 is exact in float64 (24 + 7 bits); the division is the only rounding.
    return np.rint(v64 * QUANT_LEVELS / peak).astype(np.int8)


def check_vectors(vectors: object, dim: int, what: str) -> np.ndarray:
    """``vectors`` as a float32 (N, dim) array, or VectorError naming ``what``."""
    try:
        v = np.asarray(vectors)
    except (TypeError, ValueError) as e:
        raise VectorError(f"{what}: not an array of numbers ({e})") from None
    if v.ndim != 2 or v.shape[1] != dim:
        raise VectorError(f"{what}: expected shape (N, {dim}), got {v.shape}")
    if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)):
        raise VectorError(f"{what}: expected real numbers, got dtype {v.dtype}")
    v = v.astype(np.float32, copy=False)
    if not np.isfinite(v).all():
        bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
        raise VectorError(f"{what}: vector {bad} has NaN or infinite components")
    zero = ~v.any(axis=1)
    if zero.any():
        raise VectorError(f"{what}: vector {int(np.flatnonzero(zero)[0])} is all zeros")
    return v


def check_vector(vector: object, dim: int, what: str) -> np.ndarray:
    """``vector`` as a float32 (1, dim) array, or VectorError naming ``what``."""
    try:
        v = np.asarray(vector)
    except (TypeError, ValueError) as e:
        raise VectorError(f"{what}: not an array of numbers ({e})") from None
    if v.ndim != 1:
        raise VectorError(f"{what}: expected a 1-D vector of length {dim}, got shape {v.shape}")
    return check_vectors(v[None], dim, what)


def inv_norms(codes: np.ndarray) -> np.ndarray:
    """``1 / sqrt(sum(code**2))`` per int8 row, in float64 (INDEX_FORMAT.md section 4)."""
    sq = np.einsum("ij,ij->i", codes, codes, dtype=np.int64).astype(np.float64)
    return 1.0 / np.sqrt(sq)


def int8_dots(codes: np.ndarray, queries: np.ndarray, kernel: str = "auto") -> np.ndarray:
    """Exact integer dot products of int8 queries (M, D) with int8 rows (N, D): (M, N) float64.

    Every product and partial sum is an integer below ``MAX_DIM * 127 * 127 < 2**24``, so
    both kernels return the exact integers, whatever their summation order:

    - ``"simd"``: SimSIMD's int8 dot-product kernels (AVX2 / AVX-512 VNNI on x86, NEON
      SDOT / SVE on Arm), one pass over the rows per query, written as float64;
    - ``"blas"``: blocks of rows widened to float32 and multiplied with BLAS (the path
      before SimSIMD; also the fallback where SimSIMD is not installed).

    Args:
        codes: (N, D) int8 rows, C-contiguous (a memory map is fine).
        queries: (M, D) int8 query codes.
        kernel: ``"auto"`` (``"simd"`` when SimSIMD is importable, else ``"blas"``),
            ``"simd"`` or ``"blas"``.

    Returns:
        (M, N) float64 array of the integer dot products.

    Raises:
        ValueError: unknown ``kernel``, ``"simd"`` without SimSIMD, or mismatched shapes.
    """
    if kernel == "auto":
        kernel = "simd" if _simsimd is not None else "blas"
    if kernel not in ("simd", "blas"):
        raise ValueError(f"kernel must be 'auto', 'simd' or 'blas', got {kernel!r}")
    if codes.ndim != 2 or queries.ndim != 2 or codes.shape[1] != queries.shape[1]:
        raise ValueError(f"shapes {codes.shape} and {queries.shape} do not match")
    n, m = codes.shape[0], queries.shape[0]
    out = np.empty((m, n), np.float64)
    if n == 0 or m == 0:
        return out
    if kernel == "simd":
        if _simsimd is None:
            raise ValueError("the 'simd' kernel needs simsimd (pip install simsimd)")
        rows = np.ascontiguousarray(codes, np.int8)
        q = np.ascontiguousarray(queries, np.int8)
        # One query at a time: each call streams the rows once; a multi-query call is
        # no faster per query (8 queries x 1M rows: 78 ms either way, SimSIMD 6.5).
        for j in range(m):
            _simsimd.cdist(q[j : j + 1], rows, metric="dot", out=out[j : j + 1])
        return out
    q = np.ascontiguousarray(queries.T, np.float32)
    d = codes.shape[1]
    step = max(1, BLOCK_ELEMENTS // d)
    buffer = np.empty((min(step, n), d), np.float32)
    block_out = np.empty((min(step, n), m), np.float32)
    for start in range(0, n, step):
        block = codes[start : start + step]
        widened = buffer[: len(block)]
        np.copyto(widened, block, casting="safe")
        np.matmul(widened, q, out=block_out[: len(block)])
        out[:, start : start + len(block)] = block_out[: len(block)].T  # exact: float32 ints
    return out


def simd_available() -> bool:
    """Whether the SimSIMD kernels are installed (``int8_dots`` uses them if so)."""
    return _simsimd is not None
