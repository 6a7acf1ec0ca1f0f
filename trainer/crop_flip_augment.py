"""The plain fine-tune's augmentation: random square crop, flip and brightness.

The same transform is applied to phone photos and catalog images alike, so that
neither side of a pair carries a look the other never has. Scales are stated for
a 224-pixel input and follow the input size:

- short side resized to 256;
- a random square crop from 180 px up to the full short side, resized to 224;
- a horizontal flip with probability 0.5;
- brightness: ``x * U(0.7, 1.3) + U(-25, 25)`` per image, clipped to 0-255.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_SHORT_SIDE = 256 / 224  # short side after the first resize, per pixel of input
_MIN_CROP = 180 / 224  # smallest square crop, per pixel of input


def crop_flip_brightness(image: Image.Image, rng: np.random.Generator, size: int) -> np.ndarray:
    """One augmented view of ``image``: uint8 RGB (size, size, 3).

    Args:
        image: any Pillow image (converted to RGB).
        rng: source of every random choice; same image and generator state, same bytes.
        size: side of the square output (the model input).

    Raises:
        ValueError: ``image`` has no pixels or ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    w, h = image.size
    if w < 1 or h < 1:
        raise ValueError(f"image has no pixels ({w}x{h})")
    short = max(1, round(size * _SHORT_SIDE))
    scale = short / min(w, h)
    rw, rh = max(short, round(w * scale)), max(short, round(h * scale))
    rgb = image.convert("RGB").resize((rw, rh), Image.Resampling.BILINEAR)
    lo = min(short, round(size * _MIN_CROP))
    side = int(rng.integers(lo, short + 1))
    x0 = int(rng.integers(0, rw - side + 1))
    y0 = int(rng.integers(0, rh - side + 1))
    view = rgb.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-25.0, 25.0)
    out = np.asarray(view, dtype=np.float32) * gain + offset
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
