"""Painting a planned synthetic product: body, panels, text, logo, pattern, barcode, shading
(supersampled, then downsampled)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from trainer.synthetic.plan import Product, contrast, shade

# Drawing happens at this multiple of the output size, then is downsampled: PIL's
# ImageDraw does not anti-alias, and packaging edges / text must not look jagged.
_SUPERSAMPLE = 2


# Front panel (the decorated area) of each packaging kind, in fractions of the image.
_PANELS = {
    "box": (0.2, 0.12, 0.68, 0.92),
    "carton": (0.29, 0.33, 0.69, 0.93),
    "bottle": (0.3, 0.46, 0.7, 0.9),
    "can": (0.28, 0.19, 0.72, 0.86),
    "jar": (0.2, 0.42, 0.8, 0.88),
}


def _font(px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, int(px)))


def draw_product(product: Product, size: int) -> Image.Image:
    """Render one product on white, RGB ``size`` x ``size``."""
    w = size * _SUPERSAMPLE
    layer = Image.new("RGBA", (w, w), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    fam = product.family
    panel = tuple(v * w for v in _PANELS[fam.kind])
    _draw_body(draw, fam.kind, fam.body, product.accent, w)
    _draw_panel(layer, draw, product, panel, w)
    if fam.kind in ("bottle", "can", "jar"):
        layer = _cylinder_shading(layer, panel[0] - 0.01 * w, panel[2] + 0.01 * w)
    # A thin darker rim around the silhouette, as product photos have: it keeps white
    # packaging separable from the white background.
    alpha = layer.getchannel("A")
    rim = Image.new("RGBA", (w, w), (*shade(fam.body, 0.55), 255))
    rim.putalpha(alpha.filter(ImageFilter.MaxFilter(5)))
    canvas = Image.new("RGBA", (w, w), (255, 255, 255, 255))
    canvas.alpha_composite(rim)
    canvas.alpha_composite(layer)
    return canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def _draw_body(draw: ImageDraw.ImageDraw, kind: str, body: tuple, accent: tuple, w: int) -> None:
    """The package's silhouette: faces, caps and lids around the front panel."""

    def p(*xy: float) -> list[tuple[float, float]]:
        return [(xy[i] * w, xy[i + 1] * w) for i in range(0, len(xy), 2)]

    dark, light = shade(body, 0.72), shade(body, 1.12)
    if kind == "box":
        draw.polygon(p(0.68, 0.12, 0.8, 0.06, 0.8, 0.86, 0.68, 0.92), fill=dark)
        draw.polygon(p(0.2, 0.12, 0.32, 0.06, 0.8, 0.06, 0.68, 0.12), fill=light)
        draw.rectangle(p(0.2, 0.12, 0.68, 0.92), fill=body)
    elif kind == "carton":
        # Gable top seen from the front: a foreshortened sloping panel under a sealed
        # fin, with the side gable as a triangle.
        draw.polygon(p(0.69, 0.33, 0.76, 0.3, 0.76, 0.9, 0.69, 0.93), fill=dark)
        draw.polygon(p(0.69, 0.33, 0.76, 0.3, 0.725, 0.19), fill=shade(body, 0.55))
        draw.rectangle(p(0.29, 0.19, 0.69, 0.33), fill=shade(body, 0.82))
        draw.rectangle(p(0.3, 0.14, 0.715, 0.19), fill=light)
        for x in np.linspace(0.31, 0.7, 18):
            draw.line(p(x, 0.145, x, 0.185), fill=shade(body, 0.8), width=max(1, w // 256))
        draw.rectangle(p(0.29, 0.33, 0.69, 0.93), fill=body)
        draw.line(p(0.29, 0.33, 0.69, 0.33), fill=shade(body, 0.5), width=max(1, w // 160))
        cap = p(0.51, 0.215, 0.62, 0.305)
        draw.ellipse(cap, fill=accent, outline=shade(accent, 0.6), width=max(1, w // 160))
    elif kind == "bottle":
        draw.rounded_rectangle(p(0.41, 0.06, 0.59, 0.15), radius=0.02 * w, fill=accent)
        draw.rectangle(p(0.43, 0.14, 0.57, 0.26), fill=body)
        shoulder = [
            (0.5 + side * (0.07 + 0.13 * (1 - math.cos(math.pi * t)) / 2), 0.25 + 0.2 * t)
            for side in (-1, 1)
            for t in (np.linspace(0, 1, 12) if side < 0 else np.linspace(1, 0, 12))
        ]
        draw.polygon([(x * w, y * w) for x, y in shoulder], fill=body)
        draw.rounded_rectangle(p(0.3, 0.42, 0.7, 0.94), radius=0.05 * w, fill=body)
    elif kind == "can":
        draw.rectangle(p(0.28, 0.14, 0.72, 0.9), fill=body)
        draw.ellipse(p(0.28, 0.85, 0.72, 0.95), fill=body)
        draw.ellipse(p(0.28, 0.09, 0.72, 0.19), fill=(196, 198, 204))
        draw.ellipse(p(0.31, 0.105, 0.69, 0.175), fill=(160, 162, 170))
    else:  # jar
        lid = shade(accent, 0.8)
        draw.rounded_rectangle(p(0.24, 0.25, 0.76, 0.38), radius=0.02 * w, fill=lid)
        for x in np.linspace(0.26, 0.74, 14):
            draw.line(p(x, 0.26, x, 0.37), fill=shade(lid, 0.75), width=max(1, w // 200))
        draw.rounded_rectangle(p(0.2, 0.36, 0.8, 0.93), radius=0.07 * w, fill=body)


def _draw_panel(
    layer: Image.Image,
    draw: ImageDraw.ImageDraw,
    product: Product,
    panel: tuple[float, ...],
    w: int,
) -> None:
    """Label band with brand, variant pill, logo, pattern, fine print and barcode."""
    fam = product.family
    x0, y0, x1, y1 = panel
    pw, ph = x1 - x0, y1 - y0
    band_top = y0 + fam.band_y * ph
    band_bottom = band_top + fam.band_h * ph
    print_top = y1 - 0.14 * ph

    # The pattern fills whichever side of the band is larger; the logo takes the other.
    if band_top - y0 > print_top - band_bottom:
        pattern_box = (x0, y0, x1, band_top)
        logo_centre = (x0 + 0.5 * pw, band_bottom + 0.5 * (print_top - band_bottom))
        logo_r = 0.3 * min(pw, print_top - band_bottom)
    else:
        pattern_box = (x0, band_bottom, x1, print_top)
        logo_centre = (x0 + 0.5 * pw, y0 + 0.5 * (band_top - y0))
        logo_r = 0.3 * min(pw, band_top - y0)
    _draw_pattern(layer, product, pattern_box)

    draw.rectangle((x0, band_top, x1, band_bottom), fill=fam.label)
    _text_fit(
        draw,
        fam.brand,
        (x0 + pw / 2, (band_top + band_bottom) / 2),
        0.88 * pw,
        0.62 * (band_bottom - band_top),
        fam.text,
        bold=True,
    )

    # The variant sits in a pill straddling the band's lower edge.
    pill_h = 0.09 * ph
    pill = (x0 + 0.18 * pw, band_bottom - pill_h / 2, x1 - 0.18 * pw, band_bottom + pill_h / 2)
    draw.rounded_rectangle(pill, radius=pill_h / 2, fill=product.accent)
    _text_fit(
        draw,
        product.variant,
        ((pill[0] + pill[2]) / 2, band_bottom),
        0.55 * pw,
        0.7 * pill_h,
        contrast(product.accent),
    )

    if logo_r > 2:
        _draw_logo(draw, product.logo, logo_centre, logo_r, product.logo_colour)

    small = _font(0.045 * ph)
    ink = contrast(fam.body)
    draw.text((x0 + 0.06 * pw, print_top + 0.015 * ph), product.weight, fill=ink, font=small)
    draw.text(
        (x0 + 0.06 * pw, print_top + 0.07 * ph),
        "BEST BEFORE: SEE TOP",
        fill=ink,
        font=_font(0.032 * ph),
    )
    if fam.kind in ("box", "carton", "jar"):
        _draw_barcode(
            draw,
            product.barcode_seed,
            (x1 - 0.3 * pw, print_top + 0.01 * ph, x1 - 0.05 * pw, y1 - 0.02 * ph),
        )


def _text_fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    centre: tuple[float, float],
    max_w: float,
    max_h: float,
    fill: tuple,
    bold: bool = False,
) -> None:
    """Draw ``text`` centred at ``centre``, as large as fits in ``max_w`` x ``max_h``."""
    px = max_h
    while px > 6:
        font = _font(px)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= max_w:
            break
        px *= 0.9
    stroke = max(1, int(px / 14)) if bold else 0
    draw.text(
        centre, text, fill=fill, font=_font(px), anchor="mm", stroke_width=stroke, stroke_fill=fill
    )


def _draw_logo(
    draw: ImageDraw.ImageDraw, shape: str, centre: tuple, r: float, colour: tuple
) -> None:
    cx, cy = centre
    outline = shade(colour, 0.55)
    width = max(1, int(r / 10))
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=outline, width=width)
        draw.ellipse((cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2), fill=outline)
    elif shape == "star":
        pts = [
            (
                cx + (r if i % 2 == 0 else r * 0.45) * math.sin(i * math.pi / 5),
                cy - (r if i % 2 == 0 else r * 0.45) * math.cos(i * math.pi / 5),
            )
            for i in range(10)
        ]
        draw.polygon(pts, fill=colour, outline=outline, width=width)
    elif shape == "triangle":
        pts = [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
        draw.polygon(pts, fill=colour, outline=outline, width=width)
    else:  # diamond
        pts = [(cx, cy - r), (cx + r * 0.75, cy), (cx, cy + r), (cx - r * 0.75, cy)]
        draw.polygon(pts, fill=colour, outline=outline, width=width)


def _draw_pattern(layer: Image.Image, product: Product, box: tuple[float, ...]) -> None:
    """Stripes, dots, checks or waves over ``box``, drawn in a tile and pasted (clipped)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    if product.pattern == "plain" or x1 - x0 < 4 or y1 - y0 < 4:
        return
    tile = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    tw, th = tile.size
    step = max(4, tw // 7)
    colour = (*product.pattern_colour, 255)
    if product.pattern == "stripes":
        for x in range(-th, tw + th, step):
            draw.line((x, 0, x + th, th), fill=colour, width=max(1, step // 3))
    elif product.pattern == "dots":
        r = step / 4
        for j, y in enumerate(range(step // 2, th, step)):
            for x in range(step // 2 + (j % 2) * step // 2, tw, step):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    elif product.pattern == "checks":
        for j, y in enumerate(range(0, th, step)):
            for i, x in enumerate(range(0, tw, step)):
                if (i + j) % 2 == 0:
                    draw.rectangle((x, y, x + step - 1, y + step - 1), fill=colour)
    else:  # waves
        xs = np.arange(0, tw + 1, 2)
        for y in range(step // 2, th + step, step):
            pts = [(float(x), y + step / 4 * math.sin(x / step * 2 * math.pi)) for x in xs]
            draw.line(pts, fill=colour, width=max(1, step // 5))
    layer.alpha_composite(tile, (x0, y0))


def _draw_barcode(draw: ImageDraw.ImageDraw, seed: int, box: tuple[float, ...]) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(255, 255, 255))
    widths = np.random.default_rng(seed).integers(1, 4, 40)
    unit = (x1 - x0) * 0.9 / widths.sum()
    x = x0 + (x1 - x0) * 0.05
    for i, bw in enumerate(widths):
        if i % 2 == 0:
            draw.rectangle((x, y0 + 2, x + bw * unit, y1 - 2), fill=(10, 10, 10))
        x += bw * unit


def _cylinder_shading(layer: Image.Image, left: float, right: float) -> Image.Image:
    """Darken towards the sides and add a highlight streak, so round packs look round."""
    arr = np.asarray(layer, dtype=np.float32).copy()
    w = arr.shape[1]
    t = np.clip((np.arange(w) - left) / max(right - left, 1.0), 0.0, 1.0)
    gain = 0.7 + 0.3 * np.sin(np.pi * t)
    highlight = 90.0 * np.exp(-(((t - 0.3) / 0.05) ** 2))
    inside = (np.arange(w) >= left) & (np.arange(w) <= right)
    gain = np.where(inside, gain, 1.0)[None, :, None]
    highlight = np.where(inside, highlight, 0.0)[None, :, None]
    arr[..., :3] = np.clip(arr[..., :3] * gain + highlight, 0, 255)
    return Image.fromarray(arr.astype(np.uint8), "RGBA")
