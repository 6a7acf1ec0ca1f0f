"""Preprocessing: RGB uint8 image -> float32 model input, bit-exact with PREPROCESSING.md.

The resize is the integer fixed-point triangle filter ``triangle-fixed14`` specified in
PREPROCESSING.md, not a library resampler, so the Java core can reproduce every
output byte. Only the filter weights are computed in float64, with operations that
IEEE 754 defines exactly (+ - * / floor ceil abs); all pixel arithmetic is integer.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import numpy as np

from mobile_sdk.format_spec import load_spec
from mobile_sdk.image_io import ImageSource, load_image
from mobile_sdk.preprocess_config import PreprocessConfig

WEIGHT_BITS = load_spec("preprocess")["weight_bits"]
WEIGHT_ONE = 1 << WEIGHT_BITS  # fixed-point 1.0: every output's weights sum to this
_HALF = 1 << (WEIGHT_BITS - 1)
# Largest in/out ratio per axis. Beyond ~1000x the 14-bit taps round to 0 or 1 and
# the residual rule can go negative; real photos need under 30x.
MAX_REDUCTION = load_spec("preprocess")["max_reduction"]


class ResizePlan(NamedTuple):
    """Integer geometry of ``resize_and_crop`` (PREPROCESSING.md section 3).

    Attributes:
        resized_width, resized_height: size the whole image is resized to.
        left, top: offset of the square crop inside the resized image.
        size: side of the square crop (the model input size).
    """

    resized_width: int
    resized_height: int
    left: int
    top: int
    size: int


def resize_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point filter taps of the ``triangle-fixed14`` rule for one axis.

    Args:
        in_size: input length along the axis (>= 1).
        out_size: output length along the axis (>= 1).

    Returns:
        ``(index, weight)``, both shaped (out_size, K): output ``i`` is
        ``sum_k weight[i, k] * input[index[i, k]]`` before the ``>> 14`` rounding.
        ``index`` is int64 in ``0..in_size-1``; ``weight`` is int32, non-negative,
        and each row sums to exactly ``WEIGHT_ONE`` (16384). Rows with fewer taps
        are padded with weight 0; tap columns whose weight is 0 in every row are
        dropped (they cannot change any sum).

    Raises:
        ValueError: a size is not a positive int, or ``in_size > 256 * out_size``
            (``MAX_REDUCTION``).
    """
    in_size = _positive_int("in_size", in_size)
    out_size = _positive_int("out_size", out_size)
    if in_size > MAX_REDUCTION * out_size:
        raise ValueError(
            f"cannot resize {in_size} -> {out_size}: reduction above {MAX_REDUCTION}x "
            "is outside the triangle-fixed14 rule"
        )
    scale = in_size / out_size
    support = max(scale, 1.0)
    centre = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    first = np.maximum(np.floor(centre - support).astype(np.int64), 0)
    last = np.minimum(np.ceil(centre + support).astype(np.int64), in_size - 1)
    taps = int((last - first).max()) + 1
    j = first[:, None] + np.arange(taps, dtype=np.int64)[None, :]
    valid = j <= last[:, None]
    w = np.maximum(0.0, 1.0 - np.abs((j + 0.5) - centre[:, None]) / support)
    w[~valid] = 0.0
    # Sum taps left to right, one column at a time: np.sum's pairwise order would
    # differ from the sequential loop the Java core uses, and so could its last bit.
    total = np.zeros(out_size, dtype=np.float64)
    for k in range(taps):
        total += w[:, k]
    q = np.floor((w / total[:, None]) * float(WEIGHT_ONE) + 0.5).astype(np.int64)
    # Put the rounding residual on the largest tap (the first one on ties) so every
    # row sums to exactly 1.0 and a constant image stays constant.
    rows = np.arange(out_size)
    q[rows, np.argmax(q, axis=1)] += WEIGHT_ONE - q.sum(axis=1)
    # Reductions up to MAX_REDUCTION keep the residual far below the largest tap.
    assert (q >= 0).all(), (in_size, out_size)
    keep = (q != 0).any(axis=0)
    index = np.minimum(j, last[:, None])[:, keep]  # padding reads a valid pixel, weight 0
    return np.ascontiguousarray(index), np.ascontiguousarray(q[:, keep].astype(np.int32))


def resize_rgb(image: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Resize an RGB image with the ``triangle-fixed14`` rule (horizontal pass first).

    Args:
        image: uint8 array (H, W, 3).
        out_w, out_h: output width and height, positive ints.

    Returns:
        A new uint8 array (out_h, out_w, 3). Same-size resizing returns an exact copy.

    Raises:
        ValueError: bad image shape/dtype, non-positive output size, or a reduction
            above ``MAX_REDUCTION`` (256x) on either axis.
    """
    _check_rgb(image)
    out_w = _positive_int("out_w", out_w)
    out_h = _positive_int("out_h", out_h)
    return _resize_region(image, out_w, out_h, 0, 0, out_w, out_h)


def plan_resize(width: int, height: int, config: PreprocessConfig) -> ResizePlan:
    """Integer geometry for ``resize_and_crop`` on a ``width`` x ``height`` image.

    The short side becomes ``S = config.resized_short_side()``; the long side becomes
    ``(2 * long * S + short) // (2 * short)`` (round half up of ``long * S / short``);
    a square image becomes S x S. The crop is centred with offsets
    ``(resized_width - size) // 2`` and ``(resized_height - size) // 2``.

    Raises:
        ValueError: non-positive width/height, or a config whose resized short side
            is smaller than its input size (impossible for a validated config).
    """
    width = _positive_int("width", width)
    height = _positive_int("height", height)
    size = config.input_size
    s = config.resized_short_side()
    if s < size:
        raise ValueError(f"resized short side {s} is smaller than input_size {size}")
    if width <= height:
        new_w, new_h = s, (2 * height * s + width) // (2 * width)
    else:
        new_w, new_h = (2 * width * s + height) // (2 * height), s
    return ResizePlan(new_w, new_h, (new_w - size) // 2, (new_h - size) // 2, size)


def resize_and_crop(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Resize the short side to ``config.resized_short_side()`` and centre-crop a square.

    Only the cropped pixels are computed; the result is bit-identical to
    ``resize_rgb`` to the ``plan_resize`` size followed by slicing the crop.

    Args:
        image: uint8 array (H, W, 3).
        config: supplies input size and crop fraction.

    Returns:
        A new uint8 array (input_size, input_size, 3).

    Raises:
        ValueError: bad image shape/dtype, or the image is more than ``MAX_REDUCTION``
            (256) times the resized size on an axis.
    """
    _check_rgb(image)
    plan = plan_resize(image.shape[1], image.shape[0], config)
    return _resize_region(
        image, plan.resized_width, plan.resized_height, plan.left, plan.top, plan.size, plan.size
    )


def normalize(pixels: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Per-channel ``(x - mean) / std`` in IEEE float32.

    Each value is ``(np.float32(x) - np.float32(mean[c])) / np.float32(std[c])``: mean
    and std are rounded to float32 first, then one float32 subtraction and one float32
    division (not a multiplication by 1/std), exactly as the Java core does in ``float``.

    Args:
        pixels: uint8 array (..., 3), RGB last.
        config: supplies mean and std.

    Returns:
        A new float32 array of the same shape.

    Raises:
        ValueError: ``pixels`` is not uint8 or its last axis is not 3.
    """
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        raise ValueError("pixels must be a uint8 numpy array")
    if pixels.ndim == 0 or pixels.shape[-1] != 3:
        raise ValueError(f"pixels must have 3 channels last, got shape {pixels.shape}")
    out = pixels.astype(np.float32)  # a C-contiguous copy
    # The same float32 subtraction and division per value, on whole rows: numpy's loop
    # over a (..., 3) array broadcast with a (3,) one runs three values at a time, five
    # times slower than one pass over rows of W * 3 values with mean/std tiled to match.
    width = out.shape[-2] if out.ndim >= 2 else 1
    rows = out.reshape(-1, width * 3)
    rows -= np.tile(np.asarray(config.mean, dtype=np.float32), width)
    rows /= np.tile(np.asarray(config.std, dtype=np.float32), width)
    return out


def preprocess(
    source: ImageSource,
    config: PreprocessConfig,
    roi: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Turn an image into the model input: load, orient, crop ROI, resize, crop, normalise.

    Args:
        source: anything ``load_image`` accepts (EXIF orientation is applied). Without
            ``roi``, a JPEG at least twice the resized size is decoded at reduced scale
            (PREPROCESSING.md, section 1 "Reduced-scale decoding").
        config: the model's preprocessing config (from its metadata).
        roi: optional ``(left, top, width, height)`` in pixels of the oriented image;
            the region must lie inside the image and be non-empty.

    Returns:
        float32 array (input_size, input_size, 3): NHWC without the batch axis, RGB.

    Raises:
        ImageLoadError: the source cannot be loaded (see ``load_image``).
        ValueError: ``roi`` is malformed or outside the image.
    """
    if roi is not None:
        image = _crop_roi(load_image(source), roi)
    else:
        # JPEGs twice the resized size or more are decoded at 1/2, 1/4 or 1/8 scale
        # (PREPROCESSING.md section 1); an ROI is in full-size pixels: full decode.
        image = load_image(source, min_short_side=config.resized_short_side())
    return normalize(resize_and_crop(image, config), config)


def _crop_roi(image: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    if not isinstance(roi, (tuple, list)) or len(roi) != 4:
        raise ValueError(f"roi must be (left, top, width, height), got {roi!r}")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in roi):
        raise ValueError(f"roi values must be ints, got {roi!r}")
    left, top, width, height = (int(v) for v in roi)
    img_h, img_w = image.shape[:2]
    if width <= 0 or height <= 0:
        raise ValueError(f"roi width and height must be positive, got {roi!r}")
    if left < 0 or top < 0 or left + width > img_w or top + height > img_h:
        raise ValueError(f"roi {roi!r} is outside the {img_w}x{img_h} image")
    return image[top : top + height, left : left + width]


def _resize_region(
    image: np.ndarray, out_w: int, out_h: int, left: int, top: int, width: int, height: int
) -> np.ndarray:
    """Pixels [top:top+height, left:left+width] of ``image`` resized to out_w x out_h.

    Each pass is a few float32 matrix products (BLAS) with banded blocks of the tap
    weights: the accumulators are sums of non-negative integer products below 2^24
    (at most 255 * 16384 + 8192), so float32 holds every partial sum exactly, in any
    summation order, and the result is the integer rule of PREPROCESSING.md 4.2 to
    the bit. Only the input rows the vertical pass reads get the horizontal pass.
    """
    in_h, in_w = image.shape[:2]
    v_bands = _bands(in_h, out_h, top, height)
    h_bands = _channel_bands(in_w, out_w, left, width)
    rows = image[v_bands.lo : v_bands.hi]
    if h_bands.blocks is None:  # same width: the horizontal pass is a copy
        mid = rows[:, left : left + width].reshape(len(rows), 3 * width).astype(np.float32)
    else:
        # Only the pixels the taps read (h_bands.lo..hi-1) are widened to float32.
        samples = 3 * (h_bands.hi - h_bands.lo)
        step = max(1, _CHUNK_BYTES // (4 * samples))
        mid = np.empty((len(rows), 3 * width), np.float32)
        for r in range(0, len(rows), step):
            chunk = rows[r : r + step, h_bands.lo : h_bands.hi].reshape(-1, samples)
            chunk = chunk.astype(np.float32)
            for lo, hi, o0, o1, taps in h_bands.blocks:
                a = chunk[:, lo - 3 * h_bands.lo : hi - 3 * h_bands.lo]
                np.matmul(a, taps, out=mid[r : r + step, o0:o1])
        _round_fixed(mid)
    if v_bands.blocks is None:
        out = mid[top - v_bands.lo : top - v_bands.lo + height]
    else:
        out = np.empty((height, 3 * width), np.float32)
        for lo, hi, o0, o1, taps in v_bands.blocks:
            np.matmul(taps, mid[lo - v_bands.lo : hi - v_bands.lo], out=out[o0:o1])
        _round_fixed(out)
    return out.astype(np.uint8).reshape(height, width, 3)


class _Bands(NamedTuple):
    """One axis's taps for outputs start..start+count-1 as dense banded blocks.

    ``lo``/``hi``: the input range all these outputs read, in pixels. ``blocks``: tuples
    ``(lo, hi, o0, o1, taps)``: outputs ``o0..o1-1`` (counted from ``start``) read
    inputs ``lo..hi-1`` with the float32 weights ``taps``, shaped (o1-o0, hi-lo) for a
    left product (``_channel_bands``: offsets in samples of interleaved RGB, taps
    ``kron(w.T, I3)`` for a right product). ``None``: same size, a plain copy.
    """

    lo: int
    hi: int
    blocks: tuple | None


# Outputs per banded block: each block reads (outputs * scale + 2 * support) inputs, so
# small blocks waste fewer multiplications on zero weights but make more BLAS calls.
_BAND_OUTPUTS = 4
# Input rows are widened to float32 and filtered in batches of about this many bytes: each
# banded product then runs over many rows, so the ~56 products of a batch are paid for a
# few times per photo rather than once per 128 rows. One thread, session 16, -> 224/288:
# 1280x960 1.6/1.8 ms at 8 MB (2.4/2.3 at 2 MB, 2.0 with 128-row batches); 4032x3024
# 15.0/16.3 ms at 8 MB, but 24 ms once a batch passes ~16 MB and leaves the cache.
_CHUNK_BYTES = 8 << 20


@functools.lru_cache(maxsize=64)
def _bands(in_size: int, out_size: int, start: int, count: int) -> _Bands:
    if in_size == out_size:
        return _Bands(start, start + count, None)
    index, weight = resize_weights(in_size, out_size)
    index, weight = index[start : start + count], weight[start : start + count]
    blocks = []
    for o0 in range(0, count, _BAND_OUTPUTS):
        o1 = min(o0 + _BAND_OUTPUTS, count)
        used = weight[o0:o1] != 0
        lo = int(index[o0:o1][used].min())
        hi = int(index[o0:o1][used].max()) + 1
        dense = np.zeros((o1 - o0, hi - lo), np.float32)
        rows = np.broadcast_to(np.arange(o1 - o0)[:, None], used.shape)[used]
        dense[rows, index[o0:o1][used] - lo] = weight[o0:o1][used]
        blocks.append((lo, hi, o0, o1, dense))
    lo = min(b[0] for b in blocks)
    hi = max(b[1] for b in blocks)
    return _Bands(lo, hi, tuple(blocks))


@functools.lru_cache(maxsize=64)
def _channel_bands(in_size: int, out_size: int, start: int, count: int) -> _Bands:
    """``_bands`` over rows of interleaved RGB samples, as right-product taps.

    ``kron(w.T, I3)`` keeps the channels apart inside one product: a third of its
    multiplications are by zero, still cheaper than de-interleaving the image.
    """
    bands = _bands(in_size, out_size, start, count)
    if bands.blocks is None:
        return bands
    eye = np.eye(3, dtype=np.float32)
    blocks = tuple(
        (3 * lo, 3 * hi, 3 * o0, 3 * o1, np.kron(dense.T, eye))
        for lo, hi, o0, o1, dense in bands.blocks
    )
    return _Bands(bands.lo, bands.hi, blocks)


def _round_fixed(acc: np.ndarray) -> None:
    """``(acc + 2^13) >> 14`` in place on float32 integers (exact: below 2^24, power of 2)."""
    acc += _HALF
    acc *= 1.0 / WEIGHT_ONE
    np.floor(acc, out=acc)


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("image must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must have shape (H, W, 3) with H, W >= 1, got {image.shape}")


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
