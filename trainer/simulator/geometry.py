"""The simulator's geometry: the product fitted into the photo and warped in perspective
(one resampling)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def homography(dst: list, src: list) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients mapping output points ``dst`` onto input ``src``."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(dst, src, strict=True)):
        a[2 * i] = (x, y, 1, 0, 0, 0, -x * u, -y * u)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -x * v, -y * v)
        b[2 * i], b[2 * i + 1] = u, v
    return tuple(np.linalg.solve(a, b).tolist())


def fit(rgb: Image.Image, mask: Image.Image, s: int) -> tuple[np.ndarray, np.ndarray]:
    """No geometry effect: fit the whole image into the frame, centred."""
    w, h = rgb.size
    factor = s / max(w, h)
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    x0, y0 = (s - nw) // 2, (s - nh) // 2
    fg = np.full((s, s, 3), 255.0, dtype=np.float32)
    alpha = np.zeros((s, s), dtype=np.float32)
    fg[y0 : y0 + nh, x0 : x0 + nw] = np.asarray(
        rgb.resize((nw, nh), Image.Resampling.BILINEAR), dtype=np.float32
    )
    alpha[y0 : y0 + nh, x0 : x0 + nw] = (
        np.asarray(mask.resize((nw, nh), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    )
    return fg, alpha


def warp(
    rgb: Image.Image,
    mask: Image.Image,
    s: int,
    scale: float,
    offset: np.ndarray,
    tilt: np.ndarray,
    angle: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale, tilt, rotate and place the product with a single perspective resampling."""
    w, h = rgb.size
    corners = np.array([(-w, -h), (w, -h), (w, h), (-w, h)], dtype=np.float64) / 2
    sx, sy = np.sign(corners[:, 0]), np.sign(corners[:, 1])
    # Tilting the camera sideways shrinks the far vertical edge (and vice versa), which
    # is what a homography through these four corners reproduces.
    dst = corners.copy()
    dst[:, 1] *= 1.0 - tilt[0] * sx
    dst[:, 0] *= 1.0 - tilt[1] * sy
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    rot = np.array([[cos_a, -sin_a], [sin_a, cos_a]])
    dst = (dst * scale) @ rot.T + (s / 2 + offset)
    src = (corners + (w / 2, h / 2)).tolist()
    coeffs = homography(dst.tolist(), src)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(mask)
    warped = rgba.transform(
        (s, s),
        Image.Transform.PERSPECTIVE,
        coeffs,
        Image.Resampling.BILINEAR,
        fillcolor=(255, 255, 255, 0),
    )
    # Separate contiguous arrays: arithmetic on a strided RGB view of RGBA is ~6x slower.
    fg = np.asarray(warped.convert("RGB"), dtype=np.float32)
    return fg, np.asarray(warped.getchannel("A"), dtype=np.float32) / 255
