"""Phone-photo simulator: turn a clean catalog image into a plausible shopper's photo.

A catalog image shows one product on a white (or transparent) background. A shopper's
photo shows the same product tilted, off-centre, partly cut off, on a cluttered shelf,
held in a hand, under coloured light, blurred, noisy and JPEG-compressed.
:func:`simulate_photo` applies those effects, each randomised and individually
switchable through :class:`SimulatorConfig`, so training can see photo-like queries for
products that have only catalog images. :func:`augment_photo` is the light augmentation
for real phone photos.

Everything random comes from the caller's ``numpy.random.Generator``: the same image and
the same generator state give byte-identical output. The whole pipeline works at the
output size with one geometric resampling, because it runs inside the training loop.

Modules: ``cutout`` (the input), ``geometry`` (fit and perspective), ``scene`` (clutter,
shadow, hand), ``camera`` (light, blur, noise, JPEG).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image

from trainer.simulator.camera import add_noise, blur, defocus, illuminate, jpeg
from trainer.simulator.cutout import (
    blend,
    check,
    crop_to_mask,
    prepare,
    shrink,
    white_background_mask,
)
from trainer.simulator.geometry import fit, homography, warp
from trainer.simulator.scene import clutter, hand, shadow


@dataclass(frozen=True)
class SimulatorConfig:
    """Which effects :func:`simulate_photo` applies, how often and how strongly.

    Every ``*_prob`` is the probability that the effect is applied to one photo (0 turns
    it off); the other fields bound the effect's random strength. :meth:`all_off` gives a
    config with every effect off, a handy base for switching on one effect at a time.

    Raises:
        ValueError: from construction when a probability is outside [0, 1] or a range is
            empty or negative.
    """

    perspective_prob: float = 0.7
    """Probability of a perspective warp, as if the camera were tilted to the product."""
    perspective_strength: float = 0.18
    """Largest tilt: fraction by which the far side of the product shrinks."""
    rotation_prob: float = 0.7
    """Probability of an in-plane rotation of the product."""
    rotation_max_deg: float = 18.0
    """Largest rotation angle in degrees, either direction."""
    placement_prob: float = 0.9
    """Probability of random scale and off-centre placement (may cut the product off);
    when not applied the whole image is fitted into the frame, centred."""
    scale_range: tuple[float, float] = (0.5, 1.1)
    """Product's longer side as a fraction of the photo side (above 1 crops it)."""
    max_offset: float = 0.22
    """Largest shift of the product centre from the photo centre, fraction of the side."""
    background_prob: float = 0.9
    """Probability of replacing the white catalog background by procedural clutter
    (shelves with other packages, blobs, surfaces); otherwise it stays white."""
    shadow_strength: float = 0.45
    """Darkening of the soft drop shadow the product casts on the clutter (0 = none)."""
    hand_prob: float = 0.35
    """Probability of a hand (palm and fingers) occluding the product from an edge."""
    lighting_prob: float = 0.8
    """Probability of an uneven lighting gradient and vignetting across the photo."""
    lighting_strength: float = 0.4
    """Largest brightness change from one side of the photo to its centre (fraction)."""
    color_cast_prob: float = 0.7
    """Probability of a white-balance error (warm/cool and green/magenta cast)."""
    color_cast_strength: float = 0.12
    """Largest per-channel gain deviation of the colour cast (fraction)."""
    glare_prob: float = 0.3
    """Probability of a specular glare: a bright soft ellipse over the scene."""
    glare_strength: float = 0.75
    """Peak opacity of the glare at its centre (1 = fully white)."""
    blur_prob: float = 0.4
    """Probability of camera blur: half the time defocus (Gaussian), half motion."""
    blur_max: float = 2.0
    """Largest defocus radius in pixels at 256 px; motion blur length is about 3x this."""
    noise_prob: float = 0.6
    """Probability of additive sensor noise."""
    noise_max_sigma: float = 5.0
    """Largest noise standard deviation in 0-255 grey levels."""
    jpeg_prob: float = 0.7
    """Probability of a JPEG re-compression round trip."""
    jpeg_quality: tuple[int, int] = (30, 90)
    """Inclusive range of the JPEG quality used for the round trip."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_prob") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"SimulatorConfig.{f.name} must be in [0, 1]")
        for name in ("scale_range", "jpeg_quality"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"SimulatorConfig.{name} must be (low, high), 0 < low <= high")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError("SimulatorConfig.jpeg_quality must lie within [1, 100]")
        for name in (
            "perspective_strength",
            "rotation_max_deg",
            "max_offset",
            "shadow_strength",
            "lighting_strength",
            "color_cast_strength",
            "glare_strength",
            "blur_max",
            "noise_max_sigma",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"SimulatorConfig.{name} must be >= 0")

    @classmethod
    def all_off(cls) -> SimulatorConfig:
        """A config with every effect's probability set to 0 (output = resized input)."""
        return cls(**{f.name: 0.0 for f in fields(cls) if f.name.endswith("_prob")})


def simulate_photo(
    image: Image.Image,
    rng: np.random.Generator,
    config: SimulatorConfig = SimulatorConfig(),
    size: int = 256,
) -> Image.Image:
    """Catalog image -> simulated phone photo, RGB, size x size.

    Args:
        image: the clean product image, any mode. For RGBA / LA / PA images the alpha
            channel is the product mask; otherwise near-white pixels connected to the
            border are taken as background.
        rng: source of all randomness; same image + same generator state -> same bytes.
        config: which effects to apply and how strongly.
        size: side of the square output in pixels.

    Returns:
        A new RGB image of ``size`` x ``size`` pixels.

    Raises:
        ValueError: if ``image`` has no pixels or ``size`` is not positive.
    """
    rgb, alpha_mask = prepare(image, size)
    cfg = config
    s = size

    place = rng.random() < cfg.placement_prob
    cluttered = rng.random() < cfg.background_prob
    mask = alpha_mask
    if mask is None and (place or cluttered):
        mask = white_background_mask(rgb)
    if place:
        rgb, mask = crop_to_mask(rgb, mask)
    if alpha_mask is None and not cluttered:
        # The catalog's own white background stays: no cut-out, so no feathered rim.
        mask = Image.new("L", rgb.size, 255)
    longer = max(rgb.size)
    scale = (rng.uniform(*cfg.scale_range) if place else 1.0) * s / longer
    offset = rng.uniform(-cfg.max_offset, cfg.max_offset, 2) * s if place else np.zeros(2)
    tilt = np.zeros(2)
    if rng.random() < cfg.perspective_prob:
        tilt = rng.uniform(-cfg.perspective_strength, cfg.perspective_strength, 2)
    angle = 0.0
    if rng.random() < cfg.rotation_prob:
        angle = math.radians(rng.uniform(-cfg.rotation_max_deg, cfg.rotation_max_deg))

    if not place and not tilt.any() and angle == 0.0:
        fg, alpha = fit(rgb, mask, s)
    else:
        fg, alpha = warp(rgb, mask, s, scale, offset, tilt, angle)

    if cluttered:
        bg = np.asarray(clutter(rng, s), dtype=np.float32)
        if cfg.shadow_strength > 0:
            bg *= shadow(alpha, rng, cfg.shadow_strength)[..., None]
    else:
        bg = np.full((s, s, 3), 255.0, dtype=np.float32)
    out = blend(bg, fg, alpha[..., None])

    if rng.random() < cfg.hand_prob:
        skin, hand_alpha = hand(rng, s, s / 2 + offset)
        out = blend(out, skin, hand_alpha)

    out = illuminate(out, rng, cfg)

    if rng.random() < cfg.blur_prob:
        out = blur(out, rng, cfg.blur_max * s / 256)
    if rng.random() < cfg.noise_prob:
        sigma = rng.uniform(1.0, max(cfg.noise_max_sigma, 1.0))
        out = add_noise(out, rng, sigma)

    photo = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < cfg.jpeg_prob:
        photo = jpeg(photo, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return photo


def augment_photo(
    image: Image.Image, rng: np.random.Generator, size: int = 256, min_area: float = 0.6
) -> Image.Image:
    """Light augmentation of a real phone photo, RGB size x size.

    Random resized crop (``min_area``-1 of the area, aspect 3:4-4:3), rotation up to 10 degrees,
    brightness / contrast / saturation / white-balance jitter, and occasionally blur,
    sensor noise and a JPEG round trip. The photo is already realistic, so the changes
    are small: they teach invariance without inventing new clutter.

    Args:
        image: a phone photo, any mode (converted to RGB; alpha is dropped).
        rng: source of all randomness; same image + same generator state -> same bytes.
        size: side of the square output in pixels.
        min_area: smallest fraction of the photo's area a crop keeps, in (0, 1]. Small
            crops show part of a package or a few fruits of a pile, so that a product
            is also recognised from a partial or closer view.

    Returns:
        A new RGB image of ``size`` x ``size`` pixels.

    Raises:
        ValueError: if ``image`` has no pixels, ``size`` is not positive or ``min_area``
            is not in (0, 1].
    """
    check(image, size)
    if not 0.0 < min_area <= 1.0:
        raise ValueError(f"min_area must be in (0, 1], got {min_area}")
    # smaller crops keep more source pixels, so that a close view is not upsampled mush
    rgb = shrink(image.convert("RGB"), round(size * max(1.0, math.sqrt(0.6 / min_area))))
    w, h = rgb.size

    area = rng.uniform(min_area, 1.0) * w * h
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    angle = math.radians(rng.uniform(-10.0, 10.0))
    cw, ch = math.sqrt(area * aspect), math.sqrt(area / aspect)
    # Shrink the crop until its rotated footprint fits inside the photo, so no fill
    # colour ever shows at the corners.
    c, sn = abs(math.cos(angle)), abs(math.sin(angle))
    bw, bh = cw * c + ch * sn, cw * sn + ch * c
    fit = min(1.0, w / bw, h / bh)
    cw, ch, bw, bh = cw * fit, ch * fit, bw * fit, bh * fit
    cx = rng.uniform(bw / 2, w - bw / 2) if w > bw else w / 2
    cy = rng.uniform(bh / 2, h - bh / 2) if h > bh else h / 2
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    src = [
        (cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a)
        for x, y in ((-cw / 2, -ch / 2), (cw / 2, -ch / 2), (cw / 2, ch / 2), (-cw / 2, ch / 2))
    ]
    dst = [(0, 0), (size, 0), (size, size), (0, size)]
    photo = rgb.transform(
        (size, size), Image.Transform.PERSPECTIVE, homography(dst, src), Image.Resampling.BILINEAR
    )

    out = np.asarray(photo, dtype=np.float32)
    gains = rng.uniform(0.75, 1.25) * (1.0 + rng.uniform(-0.05, 0.05, 3))
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.75, 1.25) + mean
    grey = out @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    out = grey + (out - grey) * rng.uniform(0.7, 1.3)
    out = out * gains.astype(np.float32)
    if rng.random() < 0.2:
        out = defocus(out, rng.uniform(0.3, 1.2) * size / 256)
    if rng.random() < 0.25:
        out = add_noise(out, rng, rng.uniform(1.0, 5.0))
    photo = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3:
        photo = jpeg(photo, int(rng.integers(40, 91)))
    return photo


__all__ = ["SimulatorConfig", "augment_photo", "simulate_photo"]
