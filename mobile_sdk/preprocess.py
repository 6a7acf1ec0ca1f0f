"""Preprocessing: RGB uint8 image -> float32 model input, bit-exact with PREPROCESSING.md.

The resize is the integer fixed-point triangle filter ``triangle-fixed14`` specified in
PREPROCESSING.md, not a library resampler, so the Java core can reproduce every
output byte. Only the filter weights are computed in float64, with operations that
IEEE 754 defines exactly (+ - * / floor ceil abs); all pixel arithmetic is integer.
"""

from __future__ import annotations

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
    out = pixels.astype(np.float32)
    out -= np.asarray(config.mean, dtype=np.float32)
    out /= np.asarray(config.std, dtype=np.float32)
    return out


def preprocess(
    source: ImageSource,
    config: PreprocessConfig,
    roi: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Turn an image into the model input: load, orient, crop ROI, resize, crop, normalise.

    Args:
        source: anything ``load_image`` accepts (EXIF orientation is applied).
        config: the model's preprocessing config (from its metadata).
        roi: optional ``(left, top, width, height)`` in pixels of the oriented image;
            the region must lie inside the image and be non-empty.

    Returns:
        float32 array (input_size, input_size, 3): NHWC without the batch axis, RGB.

    Raises:
        ImageLoadError: the source cannot be loaded (see ``load_image``).
        ValueError: ``roi`` is malformed or outside the image.
    """
    image = load_image(source)
    if roi is not None:
        image = _crop_roi(image, roi)
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
    """Pixels [top:top+height, left:left+width] of ``image`` resized to out_w x out_h."""
    in_h, in_w = image.shape[:2]
    v_index, v_weight = _axis_slice(in_h, out_h, top, height)
    h_index, h_weight = _axis_slice(in_w, out_w, left, width)
    # The vertical pass only reads input rows v_index.min()..max(), so the (costly)
    # horizontal pass is run on those rows alone; results are bit-identical.
    row_lo, row_hi = int(v_index.min()), int(v_index.max())
    rows = image[row_lo : row_hi + 1]
    v_index = v_index - row_lo
    # Both passes gather whole rows along axis 0 (contiguous memory), so the
    # horizontal pass works on the transposed image.
    if h_weight is None:
        mid = rows[:, h_index]
    else:
        mid = _swap_xy(_resample_axis0(_swap_xy(rows), h_index, h_weight))
    if v_weight is None:
        return np.ascontiguousarray(mid[v_index])
    return _resample_axis0(mid, v_index, v_weight)


def _axis_slice(
    in_size: int, out_size: int, start: int, count: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Taps for outputs start..start+count-1; weight None means a plain copy (same size)."""
    if in_size == out_size:
        # Identity weights are one-hot (the centre tap gets all 16384), so copying
        # is exactly what the filter would compute.
        return np.arange(start, start + count, dtype=np.int64), None
    index, weight = resize_weights(in_size, out_size)
    return index[start : start + count], weight[start : start + count]


def _swap_xy(image: np.ndarray) -> np.ndarray:
    """Contiguous (W, H, 3) copy of an (H, W, 3) uint8 array."""
    if image.strides[2] != 1:
        image = np.ascontiguousarray(image)
    # Moving each RGB triple as one 3-byte element is about twice as fast as
    # transposing a uint8 (H, W, 3) array element by element.
    packed = image.view("V3")[:, :, 0]
    height, width = packed.shape
    return np.ascontiguousarray(packed.T).view(np.uint8).reshape(width, height, 3)


def _resample_axis0(src: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """out[i] = (sum_k weight[i,k] * src[index[i,k]] + 2^13) >> 14 over a (N, M, 3) uint8 src.

    int32 cannot overflow: weights are non-negative and sum to 2^14, so the sum is at
    most 255 * 2^14 + 2^13 < 2^31, and the shifted result is always within 0..255.
    """
    acc = np.full((index.shape[0],) + src.shape[1:], _HALF, dtype=np.int32)
    term = np.empty_like(acc)
    for k in range(index.shape[1]):
        np.multiply(src[index[:, k]], weight[:, k, None, None], out=term)
        acc += term
    acc >>= WEIGHT_BITS
    return acc.astype(np.uint8)


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("image must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must have shape (H, W, 3) with H, W >= 1, got {image.shape}")


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
