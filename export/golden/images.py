"""Generated inputs of the golden bundle: photos (sizes, EXIF orientations, alpha), their
decoded pixels, resized bytes, tensors and resize weight tables; the orientation cases."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from export.golden.bundle import SEED, GoldenError, Writer
from mobile_sdk.image_io import load_image
from mobile_sdk.preprocess import (
    normalize,
    plan_resize,
    preprocess,
    resize_and_crop,
    resize_weights,
)
from mobile_sdk.preprocess_config import PreprocessConfig

EXIF_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Input:
    """A written input: its manifest entry, oriented RGB pixels and model input tensor."""

    entry: dict[str, Any]
    rgb: np.ndarray
    tensor: np.ndarray


@dataclass(frozen=True)
class _InputSpec:
    """One generated test image: stored size, EXIF orientation, alpha channel."""

    name: str
    width: int  # stored (before orientation)
    height: int
    orientation: int = 1
    alpha: bool = False


def _input_specs(short_side: int) -> list[_InputSpec]:
    return [
        _InputSpec("portrait_348x464", 348, 464),
        _InputSpec("wide_640x200", 640, 200),
        _InputSpec("tiny_7x5", 7, 5),
        # Resized size == image size: the copy path of the resize.
        _InputSpec(f"square_{short_side}x{short_side}", short_side, short_side),
        _InputSpec("large_600x800", 600, 800),
        # Stored 480 x 360 landscape, EXIF 6: shown (and preprocessed) as 360 x 480.
        _InputSpec("exif6_480x360", 480, 360, orientation=6),
        _InputSpec("alpha_120x90", 120, 90, alpha=True),
    ]


def synthetic_photo(width: int, height: int, seed: int, alpha: bool = False) -> np.ndarray:
    """Natural-ish uint8 image: two-colour gradient, a few shapes, sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u = x / max(width - 1, 1)
    v = y / max(height - 1, 1)
    c0, c1, c2 = rng.uniform(0, 255, (3, 3))
    img = c0 * (1 - u)[..., None] + c1 * u[..., None]
    img = 0.6 * img + 0.4 * (c0 * (1 - v)[..., None] + c2 * v[..., None])
    for _ in range(4):
        colour = rng.uniform(0, 255, 3)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.1, 0.4) * width + 1, rng.uniform(0.1, 0.4) * height + 1
        if rng.random() < 0.5:
            mask = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
        else:
            mask = (np.abs(x - cx) <= rx / 2) & (np.abs(y - cy) <= ry / 2)
        img[mask] = 0.25 * img[mask] + 0.75 * colour
    img += rng.normal(0.0, 6.0, img.shape)
    rgb = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if not alpha:
        return rgb
    a = np.clip(np.rint(255 * (0.15 + 0.85 * u * v) + rng.normal(0, 20, u.shape)), 0, 255)
    a[: height // 4, : width // 4] = 0  # fully transparent corner
    a[-(height // 4) :, -(width // 4) :] = 255
    return np.dstack([rgb, a.astype(np.uint8)])


def _png(pixels: np.ndarray, orientation: int = 1) -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(pixels)
    if orientation != 1:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        image.save(buf, format="PNG", exif=exif.tobytes())
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()


def _argb(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 -> (H, W) int32 0xAARRGGBB, as ``Bitmap.getPixels`` returns."""
    p = pixels.astype(np.uint32)
    a = p[..., 3] if pixels.shape[2] == 4 else np.full(p.shape[:2], 255, np.uint32)
    packed = (a << 24) | (p[..., 0] << 16) | (p[..., 1] << 8) | p[..., 2]
    return packed.view(np.int32)


def orient_like_spec(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation value by the table of PREPROCESSING.md section 1.

    Args:
        pixels: (H, W, ...) array as stored in the file.
        orientation: the EXIF Orientation value; values outside 2..8 change nothing.

    Returns:
        The oriented array (a new contiguous array).
    """
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops.get(orientation, lambda a: a)(pixels))


def _decoded(png: bytes, stored: np.ndarray, orientation: int, name: str) -> np.ndarray:
    """``load_image`` of the PNG, checked against the stored pixels and the spec table."""
    rgb = load_image(png)
    expected = orient_like_spec(stored, orientation)
    if stored.shape[2] == 4:
        c = expected[..., :3].astype(np.int32)
        a = expected[..., 3:].astype(np.int32)
        expected = ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    if not np.array_equal(rgb, expected):
        raise GoldenError(
            f"{name}: image_io.load_image disagrees with PREPROCESSING.md section 1 "
            f"(orientation {orientation})"
        )
    return rgb


def write_inputs(writer: Writer, metadata: dict[str, Any]) -> list[Input]:
    config = PreprocessConfig.from_dict(metadata["metadata"]["preprocess"])
    n = config.input_size
    inputs = []
    for i, spec in enumerate(_input_specs(config.resized_short_side())):
        stored = synthetic_photo(spec.width, spec.height, SEED + i, spec.alpha)
        png = _png(stored, spec.orientation)
        rgb = _decoded(png, stored, spec.orientation, spec.name)
        oriented = orient_like_spec(stored, spec.orientation)  # straight alpha kept
        height, width = oriented.shape[:2]
        resized = resize_and_crop(rgb, config)
        tensor = normalize(resized, config)
        plan = plan_resize(width, height, config)
        argb_layout = "int32 0xAARRGGBB, row-major, stride = width"
        entry: dict[str, Any] = {
            "name": spec.name,
            "png": writer.write(f"inputs/{spec.name}.png", png, "PNG file"),
            "width": width,
            "height": height,
            "has_alpha": spec.alpha,
            "argb": writer.array(f"inputs/{spec.name}.argb", _argb(oriented), argb_layout),
            "orientation": spec.orientation,
            "plan": plan._asdict(),
            "resized": writer.array(
                f"resized/{spec.name}.u8", resized, "uint8 RGB after resize + crop, HWC"
            ),
            "tensor": writer.array(f"tensors/{spec.name}.f32", tensor, "float32 NHWC, no batch"),
        }
        if spec.orientation != 1:
            entry["stored_width"] = spec.width
            entry["stored_height"] = spec.height
            entry["stored_argb"] = writer.array(
                f"inputs/{spec.name}.stored.argb", _argb(stored), argb_layout + ", before EXIF"
            )
        if i == 0:
            box = (spec.width // 10, spec.height // 8, spec.width // 2, spec.height // 2)
            roi_tensor = preprocess(png, config, roi=box)
            entry["roi"] = {
                "box": list(box),
                "tensor": writer.array(
                    f"tensors/{spec.name}.roi.f32", roi_tensor, "float32 NHWC of the ROI box"
                ),
            }
            entry["weights"] = {
                "x": _weights_file(writer, f"weights/{spec.name}_x.json", width, plan[0]),
                "y": _weights_file(writer, f"weights/{spec.name}_y.json", height, plan[1]),
            }
        if tensor.shape != (n, n, 3):
            raise GoldenError(f"{spec.name}: tensor shape {tensor.shape}")
        inputs.append(Input(entry, rgb, tensor))
    return inputs


def _weights_file(writer: Writer, rel: str, in_size: int, out_size: int) -> str:
    index, weight = resize_weights(in_size, out_size)
    doc = {
        "in_size": in_size,
        "out_size": out_size,
        "index": index.tolist(),
        "weight": weight.tolist(),
    }
    layout = (
        "JSON: index[i][k], weight[i][k] per output i; rows padded with weight 0, "
        "all-zero columns dropped (compare the non-zero (index, weight) pairs)"
    )
    return writer.json(rel, doc, layout)


def write_orientation_cases(writer: Writer) -> list[dict[str, Any]]:
    """A 7 x 5 image under every EXIF orientation 1..8 (stored and oriented pixels)."""
    stored = synthetic_photo(7, 5, SEED - 1)
    cases = []
    for orientation in range(1, 9):
        png = _png(stored, orientation)
        oriented = _decoded(png, stored, orientation, f"orientation {orientation}")
        name = f"orient_{orientation}"
        argb = "int32 0xAARRGGBB, row-major"
        cases.append(
            {
                "orientation": orientation,
                "png": writer.write(f"orientation/{name}.png", png, "PNG with an eXIf chunk"),
                "stored_width": 7,
                "stored_height": 5,
                "stored_argb": writer.array(f"orientation/{name}.stored.argb", _argb(stored), argb),
                "width": int(oriented.shape[1]),
                "height": int(oriented.shape[0]),
                "argb": writer.array(f"orientation/{name}.argb", _argb(oriented), argb),
            }
        )
    return cases
