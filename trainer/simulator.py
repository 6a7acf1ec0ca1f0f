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
"""

from __future__ import annotations

import colorsys
import functools
import io
import math
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter

# A catalog background is the border's typical brightness (channel minimum); pixels
# within this many grey levels of it count as background. White packaging is usually a
# little darker than a studio-white background, so a tight tolerance keeps it intact.
_BACKGROUND_TOLERANCE = 7
# Borders darker than this are not a catalog background (e.g. a photo): keep everything.
_MIN_BACKGROUND_LEVEL = 200
# Resolution of the smooth lighting / glare fields; they are upsampled to the photo.
_FIELD_RES = 24
# Skin tones (RGB) from light to dark; a random one is picked and jittered per hand.
_SKIN_TONES = np.array(
    [
        [241, 194, 167],
        [224, 172, 138],
        [198, 134, 98],
        [160, 103, 70],
        [118, 72, 46],
        [82, 50, 34],
    ],
    dtype=np.float32,
)


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
    rgb, alpha_mask = _prepare(image, size)
    cfg = config
    s = size

    place = rng.random() < cfg.placement_prob
    cluttered = rng.random() < cfg.background_prob
    mask = alpha_mask
    if mask is None and (place or cluttered):
        mask = _white_background_mask(rgb)
    if place:
        rgb, mask = _crop_to_mask(rgb, mask)
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
        fg, alpha = _fit(rgb, mask, s)
    else:
        fg, alpha = _warp(rgb, mask, s, scale, offset, tilt, angle)

    if cluttered:
        bg = np.asarray(_clutter(rng, s), dtype=np.float32)
        if cfg.shadow_strength > 0:
            bg *= _shadow(alpha, rng, cfg.shadow_strength)[..., None]
    else:
        bg = np.full((s, s, 3), 255.0, dtype=np.float32)
    out = _blend(bg, fg, alpha[..., None])

    if rng.random() < cfg.hand_prob:
        skin, hand_alpha = _hand(rng, s, s / 2 + offset)
        out = _blend(out, skin, hand_alpha)

    out = _illuminate(out, rng, cfg)

    if rng.random() < cfg.blur_prob:
        out = _blur(out, rng, cfg.blur_max * s / 256)
    if rng.random() < cfg.noise_prob:
        sigma = rng.uniform(1.0, max(cfg.noise_max_sigma, 1.0))
        out = _add_noise(out, rng, sigma)

    photo = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < cfg.jpeg_prob:
        photo = _jpeg(photo, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
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
    _check(image, size)
    if not 0.0 < min_area <= 1.0:
        raise ValueError(f"min_area must be in (0, 1], got {min_area}")
    # smaller crops keep more source pixels, so that a close view is not upsampled mush
    rgb = _shrink(image.convert("RGB"), round(size * max(1.0, math.sqrt(0.6 / min_area))))
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
        (size, size), Image.Transform.PERSPECTIVE, _homography(dst, src), Image.Resampling.BILINEAR
    )

    out = np.asarray(photo, dtype=np.float32)
    gains = rng.uniform(0.75, 1.25) * (1.0 + rng.uniform(-0.05, 0.05, 3))
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.75, 1.25) + mean
    grey = out @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    out = grey + (out - grey) * rng.uniform(0.7, 1.3)
    out = out * gains.astype(np.float32)
    if rng.random() < 0.2:
        out = _defocus(out, rng.uniform(0.3, 1.2) * size / 256)
    if rng.random() < 0.25:
        out = _add_noise(out, rng, rng.uniform(1.0, 5.0))
    photo = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3:
        photo = _jpeg(photo, int(rng.integers(40, 91)))
    return photo


# ---------------------------------------------------------------------------- input


def _check(image: Image.Image, size: int) -> None:
    if image.width * image.height == 0:
        raise ValueError(f"image has no pixels (size {image.width}x{image.height})")
    if size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size}")


def _shrink(image: Image.Image, size: int) -> Image.Image:
    """Downscale big inputs first: one bilinear warp of a much larger image would alias."""
    limit = int(1.25 * size)
    if max(image.size) <= limit:
        return image
    factor = limit / max(image.size)
    new = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(new, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _prepare(image: Image.Image, size: int) -> tuple[Image.Image, Image.Image | None]:
    """RGB image (at most ~1.25x the output size) and its alpha channel, if it has one."""
    _check(image, size)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = _shrink(image.convert("RGBA"), size)
        return rgba.convert("RGB"), rgba.getchannel("A")
    return _shrink(image.convert("RGB"), size), None


def _white_background_mask(rgb: Image.Image) -> Image.Image:
    """Product mask (mode L): 0 on near-white pixels reachable from the border, else 255.

    "White" is relative to the border's median brightness, and only border-connected
    white counts as background, so white labels and white milk cartons survive.
    Reachability is approximated by straight runs from each edge plus a few propagation
    steps: exact for the convex-ish silhouettes of packaging, and well under a
    millisecond. An image whose border is not near-white keeps every pixel.
    """
    # Per-pixel channel minimum via PIL: numpy's reduction over a length-3 axis is slow.
    r, g, b = rgb.split()
    lowest = np.asarray(ImageChops.darker(ImageChops.darker(r, g), b))
    border = np.concatenate((lowest[0], lowest[-1], lowest[:, 0], lowest[:, -1]))
    level = float(np.median(border))
    if level < _MIN_BACKGROUND_LEVEL:
        return Image.new("L", rgb.size, 255)
    white = lowest >= level - _BACKGROUND_TOLERANCE
    blocked = ~white
    bg = (
        (np.cumsum(blocked, axis=1) == 0)
        | (np.cumsum(blocked[:, ::-1], axis=1) == 0)[:, ::-1]
        | (np.cumsum(blocked, axis=0) == 0)
        | (np.cumsum(blocked[::-1], axis=0) == 0)[::-1]
    )
    for step in range(5):
        grown = bg.copy()
        grown[1:] |= bg[:-1]
        grown[:-1] |= bg[1:]
        grown[:, 1:] |= bg[:, :-1]
        grown[:, :-1] |= bg[:, 1:]
        # The last step grows into the product too: eroding it by a pixel drops the
        # white JPEG halo around the silhouette.
        bg = grown if step == 4 else grown & white
    fg = Image.fromarray(np.where(bg, 0, 255).astype(np.uint8), "L")
    # A slight blur avoids a cut-out look once the product sits on clutter.
    return fg.filter(ImageFilter.BoxBlur(1))


def _blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``over * alpha + under * (1 - alpha)``, in place on ``over`` (it runs per photo)."""
    over -= under
    over *= alpha
    over += under
    return over


def _crop_to_mask(rgb: Image.Image, mask: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Crop to the product's bounding box so the scale range refers to the product."""
    box = mask.getbbox()
    if box is None:
        return rgb, mask
    return rgb.crop(box), mask.crop(box)


# ------------------------------------------------------------------------- geometry


def _homography(dst: list, src: list) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients mapping output points ``dst`` onto input ``src``."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(dst, src, strict=True)):
        a[2 * i] = (x, y, 1, 0, 0, 0, -x * u, -y * u)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -x * v, -y * v)
        b[2 * i], b[2 * i + 1] = u, v
    return tuple(np.linalg.solve(a, b).tolist())


def _fit(rgb: Image.Image, mask: Image.Image, s: int) -> tuple[np.ndarray, np.ndarray]:
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


def _warp(
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
    coeffs = _homography(dst.tolist(), src)
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


# ----------------------------------------------------------------------- background


def _colour(rng: np.random.Generator, sat: tuple, val: tuple) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def _clutter(rng: np.random.Generator, s: int) -> Image.Image:
    """Procedural clutter: shelves of packages, blobs or a striped surface.

    Drawn at half resolution and upsampled, which is both cheaper and a free
    depth-of-field blur that keeps the in-focus product the sharpest thing in frame.
    """
    b = max(8, s // 2)
    corners = np.array([_colour(rng, (0.0, 0.4), (0.25, 0.95)) for _ in range(4)])
    img = Image.fromarray(corners.reshape(2, 2, 3).astype(np.uint8), "RGB")
    img = img.resize((b, b), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    kind = rng.random()
    if kind < 0.5:
        _draw_shelves(draw, rng, b)
    elif kind < 0.75:
        for _ in range(int(rng.integers(6, 16))):
            x, y = rng.uniform(-0.2, 1.0, 2) * b
            rw, rh = rng.uniform(0.08, 0.45, 2) * b
            fill = _colour(rng, (0.2, 0.9), (0.3, 1.0))
            if rng.random() < 0.5:
                draw.ellipse((x, y, x + rw, y + rh), fill=fill)
            else:
                draw.rectangle((x, y, x + rw, y + rh), fill=fill)
    else:
        angle = rng.uniform(0, math.pi)
        dx, dy = math.cos(angle) * 2 * b, math.sin(angle) * 2 * b
        for _ in range(int(rng.integers(4, 12))):
            cx, cy = rng.uniform(0, b, 2)
            fill = _colour(rng, (0.0, 0.6), (0.2, 1.0))
            width = int(rng.integers(2, max(3, b // 8)))
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=fill, width=width)
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(-0.1, 0.9, 2) * b
            rw, rh = rng.uniform(0.1, 0.35, 2) * b
            draw.rectangle((x, y, x + rw, y + rh), fill=_colour(rng, (0.3, 1.0), (0.3, 1.0)))
    # Real scenes are less saturated than random colours; muting also keeps the product
    # the most colourful thing in most frames.
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.35, 0.9))
    return img.resize((s, s), Image.Resampling.BILINEAR)


def _draw_shelves(draw: ImageDraw.ImageDraw, rng: np.random.Generator, b: int) -> None:
    """Rows of other packages standing on shelf edges with price tags."""
    edge_fill = _colour(rng, (0.0, 0.3), (0.5, 1.0))
    top = -rng.uniform(0.1, 0.4) * b
    shelf_y = top
    while top < b:
        shelf_y = top + rng.uniform(0.25, 0.55) * b
        x = -rng.uniform(0.0, 0.1) * b
        while x < b:
            pw = rng.uniform(0.07, 0.22) * b
            ph = rng.uniform(0.5, 0.95) * (shelf_y - top)
            body = _colour(rng, (0.2, 1.0), (0.3, 1.0))
            y0 = shelf_y - ph
            if rng.random() < 0.4:
                draw.rounded_rectangle((x, y0, x + pw, shelf_y), radius=pw / 3, fill=body)
            else:
                draw.rectangle((x, y0, x + pw, shelf_y), fill=body)
            if rng.random() < 0.7:
                ly = y0 + rng.uniform(0.25, 0.6) * ph
                label = _colour(rng, (0.0, 1.0), (0.4, 1.0))
                draw.rectangle((x, ly, x + pw, ly + ph * 0.2), fill=label)
            x += pw + rng.uniform(0.0, 0.04) * b
        thick = rng.uniform(0.02, 0.06) * b
        draw.rectangle((0, shelf_y, b, shelf_y + thick), fill=edge_fill)
        for _ in range(int(rng.integers(0, 4))):
            tx = rng.uniform(0, b)
            draw.rectangle((tx, shelf_y, tx + 0.08 * b, shelf_y + thick * 1.5), fill="white")
        top = shelf_y + thick


def _shadow(alpha: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Multiplicative soft drop-shadow field cast by the product onto the background."""
    s = alpha.shape[0]
    small = max(4, s // 8)
    m = Image.fromarray((alpha * 255).astype(np.uint8), "L")
    # Down- and up-sampling is a cheap wide blur of the silhouette.
    m = m.resize((small, small), Image.Resampling.BOX).resize((s, s), Image.Resampling.BILINEAR)
    dx, dy = (int(v) for v in rng.uniform(-0.05, 0.05, 2) * s)
    # Cropping past the edges shifts the shadow, filling with "no shadow" (no wrap-around).
    m = m.crop((-dx, -dy, s - dx, s - dy))
    return 1.0 - strength * rng.uniform(0.3, 1.0) * (np.asarray(m, dtype=np.float32) / 255)


# ------------------------------------------------------------------------- occluders


def _hand(rng: np.random.Generator, s: int, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A hand gripping the product: returns its colour (s, s, 3) and alpha (s, s, 1).

    Like a shopper holding a pack up to the camera: the palm sits just outside an edge
    of the frame, level with ``target`` (the product centre, x y in pixels), and 2-4
    parallel fingers reach over the product, sometimes with a thumb splayed off.
    """
    b = max(8, s // 2)
    mask = Image.new("L", (b, b), 0)
    creases = Image.new("L", (b, b), 255)
    draw, crease_draw = ImageDraw.Draw(mask), ImageDraw.Draw(creases)
    tx, ty = np.clip(target * (b / s), 0.15 * b, 0.85 * b)
    # Hands mostly come from the sides or below; the top is rare.
    edge = int(rng.choice(4, p=[0.3, 0.3, 0.3, 0.1]))
    jitter = rng.uniform(-0.12, 0.12) * b
    ox, oy, base = {
        0: (0.0, ty + jitter, 0.0),
        1: (b, ty + jitter, math.pi),
        2: (tx + jitter, b, -math.pi / 2),
        3: (tx + jitter, 0.0, math.pi / 2),
    }[edge]
    base += rng.uniform(-0.35, 0.35)
    ux, uy = math.cos(base), math.sin(base)  # into the frame
    vx, vy = -uy, ux  # across the fingers
    depth = max(0.2 * b, (tx - ox) * ux + (ty - oy) * uy)
    finger_w = rng.uniform(0.08, 0.12) * b
    n = int(rng.integers(2, 5))

    def at(along: float, across: float) -> tuple[float, float]:
        return ox + ux * along + vx * across, oy + uy * along + vy * across

    palm_len, palm_half = rng.uniform(0.15, 0.3) * b, 0.6 * n * finger_w + 0.02 * b
    palm = [
        at(palm_len * (math.cos(t) - 0.6), palm_half * math.sin(t))
        for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)
    ]
    draw.polygon(palm, fill=255)
    reach = depth * rng.uniform(0.7, 1.15)
    # Middle fingers are the longest; the outer ones fall short, as on a real hand.
    profile = (0.85, 1.0, 0.95, 0.75)[:n] if n > 2 else (1.0, 0.9)
    for i in range(n):
        across = (i - (n - 1) / 2) * finger_w * 0.95
        length = max(palm_len * 0.5, reach * profile[i] * rng.uniform(0.92, 1.08))
        start, tip = at(-0.1 * b, across), at(length, across)
        draw.line((*start, *tip), fill=255, width=max(1, int(finger_w)))
        r = finger_w / 2
        draw.ellipse((tip[0] - r, tip[1] - r, tip[0] + r, tip[1] + r), fill=255)
        if i:
            gap = across - finger_w * 0.475
            shorter = min(length, reach * profile[i - 1])
            crease_draw.line((*at(palm_len * 0.3, gap), *at(shorter, gap)), fill=150, width=2)
    if rng.random() < 0.6:
        side = (n / 2 + 0.3) * finger_w * (1 if rng.random() < 0.5 else -1)
        splay = math.copysign(rng.uniform(0.5, 0.9), side)
        thumb_start = at(-0.05 * b, side)
        length = reach * rng.uniform(0.45, 0.65)
        a = base + splay
        tip = (thumb_start[0] + math.cos(a) * length, thumb_start[1] + math.sin(a) * length)
        draw.line((*thumb_start, *tip), fill=255, width=int(finger_w * 1.2))
        r = finger_w * 0.6
        draw.ellipse((tip[0] - r, tip[1] - r, tip[0] + r, tip[1] + r), fill=255)

    alpha = np.asarray(mask.resize((s, s), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    # A much blurrier copy darkens the rims, which reads as rounded fingers.
    small = max(4, s // 16)
    rim = mask.resize((small, small), Image.Resampling.BOX).resize(
        (s, s), Image.Resampling.BILINEAR
    )
    shade = 0.6 + 0.4 * np.asarray(rim, dtype=np.float32) / 255
    creases = creases.filter(ImageFilter.BoxBlur(1)).resize((s, s), Image.Resampling.BILINEAR)
    shade *= np.asarray(creases, dtype=np.float32) / 255
    tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.85, 1.1)
    skin = shade[..., None] * tone
    return skin, alpha[..., None]


# ------------------------------------------------------------------ light and camera


def _upsample(field: np.ndarray, s: int) -> np.ndarray:
    img = Image.fromarray(field.astype(np.float32), "F")
    return np.asarray(img.resize((s, s), Image.Resampling.BILINEAR))


def _illuminate(out: np.ndarray, rng: np.random.Generator, cfg: SimulatorConfig) -> np.ndarray:
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


def _defocus(out: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)


def _blur(out: np.ndarray, rng: np.random.Generator, max_radius: float) -> np.ndarray:
    """Defocus (Gaussian) or linear motion blur along a random direction."""
    if rng.random() < 0.5:
        return _defocus(out, rng.uniform(0.5, max(max_radius, 0.6)))
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


def _add_noise(out: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add sensor noise of standard deviation about ``sigma`` grey levels, in place."""
    h, w, _ = out.shape
    oy, ox = int(rng.integers(h)), int(rng.integers(w))
    out += np.float32(sigma) * _noise_bank(h, w)[oy : oy + h, ox : ox + w]
    return out


def _jpeg(photo: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
