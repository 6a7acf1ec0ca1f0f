"""Light and camera effects of a simulated photo: lighting and glare, defocus and motion
blur, sensor noise, JPEG."""

from __future__ import annotations

import functools
import io
import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

if TYPE_CHECKING:
    from trainer.simulator import SimulatorConfig

# Resolution of the smooth lighting / glare fields; they are upsampled to the photo.
_FIELD_RES = 24


def _upsample(field: np.ndarray, s: int) -> np.ndarray:
    img = Image.fromarray(field.astype(np.float32), "F")
    return np.asarray(img.resize((s, s), Image.Resampling.BILINEAR))


def illuminate(out: np.ndarray, rng: np.random.Generator, cfg: SimulatorConfig) -> np.ndarray:
    """Lighting gradient + vignetting, white-balance cast and specular glare."""
    s = out.shape[0]
    g = _FIELD_RES
    ys, xs = np.mgrid[0:g, 0:g].astype(np.float32) / (g - 1) * 2 - 1
    if rng.random() < cfg.lighting_prob:
        direction = rng.uniform(0, 2 * math.pi)
        k = cfg.lighting_strength
        ramp = xs * math.cos(direction) + ys * math.sin(direction)
        gain = 1.0 + rng.uniform(-k, k) * ramp / math.sqrt(2)
        gain *= 1.0 - rng.uniform(0, k / 2) * (xs**2 + ys**2) / 2
        gain *= rng.uniform(1 - k / 2, 1 + k / 4)
        out *= _upsample(gain, s)[..., None]
    if rng.random() < cfg.color_cast_prob:
        k = cfg.color_cast_strength
        warm, tint = rng.uniform(-k, k), rng.uniform(-k / 2, k / 2)
        cast = np.array([1 + warm, 1 + tint, 1 - warm], dtype=np.float32)
        out *= cast
    if rng.random() < cfg.glare_prob:
        cx, cy = rng.uniform(-0.7, 0.7, 2)
        rx, ry = rng.uniform(0.12, 0.45, 2)
        theta = rng.uniform(0, math.pi)
        u = (xs - cx) * math.cos(theta) + (ys - cy) * math.sin(theta)
        v = -(xs - cx) * math.sin(theta) + (ys - cy) * math.cos(theta)
        peak = cfg.glare_strength * rng.uniform(0.6, 1.0)
        glare = _upsample(peak * np.exp(-((u / rx) ** 2 + (v / ry) ** 2)), s)[..., None]
        # Blend towards white in place: out = out * (1 - glare) + 255 * glare.
        out -= 255.0
        out *= 1.0 - glare
        out += 255.0
    return out


def defocus(out: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)


def blur(out: np.ndarray, rng: np.random.Generator, max_radius: float) -> np.ndarray:
    """Defocus (Gaussian) or linear motion blur along a random direction."""
    if rng.random() < 0.5:
        return defocus(out, rng.uniform(0.5, max(max_radius, 0.6)))
    length = int(rng.integers(3, max(4, round(3 * max_radius)) + 1))
    angle = rng.uniform(0, math.pi)
    pad = length
    padded = np.pad(out, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = out.shape[:2]
    acc = np.zeros_like(out)
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, length):
        dx, dy = round(t * math.cos(angle)), round(t * math.sin(angle))
        acc += padded[pad + dy : pad + dy + h, pad + dx : pad + dx + w]
    return acc / length


@functools.lru_cache(maxsize=4)
def _noise_bank(h: int, w: int) -> np.ndarray:
    """A fixed (2h, 2w, 3) tile of unit sensor noise; photos take random windows of it.

    Drawing fresh normals costs more than the rest of the camera model, and a window at
    a random offset of a tile four times the photo's area is just as unpredictable for
    training. The fixed seed keeps outputs a pure function of the caller's generator.
    """
    rng = np.random.default_rng(20240917)
    lum = rng.standard_normal((2 * h, 2 * w, 1), dtype=np.float32)
    # Phone pipelines denoise colour more than brightness: blotchier, weaker chroma.
    chroma = rng.standard_normal((h, w, 3), dtype=np.float32)
    chroma = chroma.repeat(2, axis=0).repeat(2, axis=1)
    bank = 0.85 * lum + 0.5 * chroma
    bank.setflags(write=False)
    return bank


def add_noise(out: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add sensor noise of standard deviation about ``sigma`` grey levels, in place."""
    h, w, _ = out.shape
    oy, ox = int(rng.integers(h)), int(rng.integers(w))
    out += np.float32(sigma) * _noise_bank(h, w)[oy : oy + h, ox : ox + w]
    return out


def jpeg(photo: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
