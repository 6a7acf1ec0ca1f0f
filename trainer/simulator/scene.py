"""What surrounds the product in a simulated photo: shelf clutter, its shadow, a hand."""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

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


def _colour(rng: np.random.Generator, sat: tuple, val: tuple) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def clutter(rng: np.random.Generator, s: int) -> Image.Image:
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


def shadow(alpha: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
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


def hand(rng: np.random.Generator, s: int, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
