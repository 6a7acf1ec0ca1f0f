"""Built-in default dataset: procedural grocery packaging and simulated phone photos.

Training and the tests need a dataset that exists everywhere without downloads or
committed images. :func:`generate_dataset` draws packaging (boxes, gable-top milk
cartons, bottles, cans, jars) with a label band, a brand name, a logo, a pattern and
fine print, and photographs each one with :func:`trainer.simulator.simulate_photo`.
Products come in brand families that share colours and layout and differ only in
variant text, logo and pattern, like look-alike products on a real shelf.

Layout written (the standard one, see :mod:`mobile_sdk.dataset_layout`)::

    root/catalog/<product_id>/catalog.jpg       e.g. p000-red-carton
    root/photos/<product_id>/photo_000.jpg ...
    root/dataset.json                           the generation parameters

Command line: ``python -m trainer.synthetic --out DIR [--products N] [--photos N]
[--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from tqdm import tqdm

from mobile_sdk.atomic_file import replace_dir
from trainer.simulator import simulate_photo

# Bump when the drawing or the simulator changes what a given seed produces, so that
# datasets cached on disk by an older version are regenerated instead of reused.
FORMAT_VERSION = 1
_GENERATOR = "trainer.synthetic"
_CATALOG_QUALITY = 92
_PHOTO_QUALITY = 90
# Drawing happens at this multiple of the output size, then is downsampled: PIL's
# ImageDraw does not anti-alias, and packaging edges / text must not look jagged.
_SUPERSAMPLE = 2

_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (196, 32, 44)),
    ("blue", (34, 84, 178)),
    ("green", (44, 146, 66)),
    ("yellow", (242, 198, 38)),
    ("orange", (238, 126, 30)),
    ("purple", (116, 52, 146)),
    ("teal", (22, 146, 146)),
    ("brown", (118, 74, 40)),
    ("pink", (226, 108, 158)),
    ("navy", (28, 38, 92)),
    ("black", (34, 34, 36)),
    ("white", (246, 246, 244)),
    ("cream", (240, 228, 196)),
    ("silver", (186, 188, 194)),
)
_KINDS = ("box", "carton", "bottle", "can", "jar")
_BRANDS = tuple(
    (
        "NORDA FJORD SUNVALE BRISK VITA PUREO KRONA MOOLA HAVRE ZESTO LUMA ALPINE TERRA "
        "GOLDA MAPLO RIVA OAKLY BLOOM"
    ).split()
)
_VARIANTS = tuple(
    (
        "ORIGINAL LIGHT VANILLA CHOCO BERRY LEMON MINT HONEY CLASSIC ZERO EXTRA MILD "
        "STRONG ORGANIC MANGO CHERRY COCONUT OAT"
    ).split()
)
_LOGOS = ("circle", "star", "triangle", "diamond")
_PATTERNS = ("stripes", "dots", "checks", "waves", "plain")


@dataclass(frozen=True)
class _Family:
    """What look-alike products of one brand share."""

    brand: str
    kind: str
    colour_name: str
    body: tuple[int, int, int]
    label: tuple[int, int, int]
    text: tuple[int, int, int]
    band_y: float
    band_h: float


@dataclass(frozen=True)
class _Product:
    """One product: its family plus what tells it apart from its siblings."""

    product_id: str
    family: _Family
    variant: str
    logo: str
    logo_colour: tuple[int, int, int]
    pattern: str
    pattern_colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    weight: str
    barcode_seed: int


def generate_dataset(
    root: str | os.PathLike,
    n_products: int = 40,
    photos_per_product: int = 12,
    seed: int = 0,
    catalog_size: int = 256,
    photo_size: int = 256,
    progress: bool = True,
    photo_offset: int = 0,
) -> Path:
    """Write a synthetic dataset in the standard layout, or reuse an identical one.

    Args:
        root: dataset folder to create. If it already holds a complete dataset generated
            with the same parameters it is returned untouched; if it holds a synthetic
            dataset with other parameters, that one is replaced.
        n_products: number of products (each gets one ``catalog.jpg``).
        photos_per_product: simulated phone photos per product.
        seed: the same seed and parameters give byte-identical files.
        catalog_size: side in pixels of the square catalog images.
        photo_size: side in pixels of the square photos.
        progress: show a tqdm progress bar.
        photo_offset: number of the first photo: the same seed with another offset gives
            the same products with new photos (a validation set).

    Returns:
        ``root`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: for a non-positive count or size (``photos_per_product`` may be 0).
        FileExistsError: if ``root`` exists, is not empty and is not a dataset written by
            this generator (so nothing of the user's is ever overwritten).
    """
    if n_products < 1 or photos_per_product < 0 or photo_offset < 0:
        raise ValueError("need n_products >= 1, photos_per_product >= 0 and photo_offset >= 0")
    if catalog_size < 16 or photo_size < 16:
        raise ValueError("catalog_size and photo_size must be at least 16 pixels")
    root = Path(root)
    params = {
        "generator": _GENERATOR,
        "version": FORMAT_VERSION,
        "n_products": n_products,
        "photos_per_product": photos_per_product,
        "seed": seed,
        "catalog_size": catalog_size,
        "photo_size": photo_size,
        "photo_offset": photo_offset,
    }
    if is_complete(root, params):
        return root
    target = root.resolve()  # "." or "out/" still have a real name and parent
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build next to root (same file system) and rename into place, so an interrupted
    # run never leaves a half-written dataset that a later run would mistake for done.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        products = _plan_products(n_products, seed)
        bar = tqdm(products, desc="synthetic dataset", unit="product", disable=not progress)
        for index, product in enumerate(bar):
            _write_product(tmp, product, index, params)
        manifest = {**params, "products": [p.product_id for p in products]}
        (tmp / "dataset.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _move_into_place(tmp, target, params)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def generate_builtin(
    root: str | os.PathLike,
    n_products: int = 40,
    photos_per_product: int = 12,
    val_photos: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Path, Path]:
    """The built-in default dataset: ``root/train`` and ``root/val``.

    Both hold the same products; ``val`` has ``val_photos`` new photos of each, so that
    training can be measured on photos it never saw.
    """
    root = Path(root)
    train = generate_dataset(
        root / "train", n_products, photos_per_product, seed, progress=progress
    )
    val = generate_dataset(
        root / "val",
        n_products,
        val_photos,
        seed,
        progress=progress,
        photo_offset=photos_per_product,
    )
    return train, val


def is_complete(root: str | os.PathLike, params: dict) -> bool:
    """True if ``root`` holds every file of a dataset generated with ``params``.

    Args:
        root: candidate dataset folder (need not exist).
        params: the parameter dict stored in ``dataset.json`` (without ``products``).

    Returns:
        Whether the manifest matches and every catalog image and photo is present.
    """
    root = Path(root)
    try:
        manifest = json.loads((root / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    if {k: manifest.get(k) for k in params} != params:
        return False
    ids = manifest.get("products")
    if not isinstance(ids, list) or len(ids) != params["n_products"]:
        return False
    n_photos = params["photos_per_product"]
    return all(
        (root / "catalog" / pid / "catalog.jpg").is_file()
        and all((root / "photos" / pid / f"photo_{j:03d}.jpg").is_file() for j in range(n_photos))
        for pid in ids
    )


def make_products(n_products: int, seed: int = 0, size: int = 256) -> list[tuple[str, Image.Image]]:
    """Draw the catalog images of a synthetic dataset without writing anything.

    Args:
        n_products: how many products (>= 1).
        seed: the same seed gives the same products (ids and designs) as
            :func:`generate_dataset` with that seed; a smaller ``n_products`` gives the
            first products of a larger one.
        size: side of the square RGB images in pixels (>= 16); the same size as
            ``catalog_size`` gives the same pixels as the written ``catalog.jpg`` had
            before JPEG encoding.

    Returns:
        ``(product_id, image)`` pairs in dataset order.

    Raises:
        ValueError: for ``n_products < 1`` or ``size < 16``.
    """
    if n_products < 1 or size < 16:
        raise ValueError("need n_products >= 1 and size >= 16")
    return [(p.product_id, _draw(p, size)) for p in _plan_products(n_products, seed)]


# ------------------------------------------------------------------------- planning


def _plan_products(n_products: int, seed: int) -> list[_Product]:
    """Decide every product's appearance up front, in brand families of 1-4."""
    rng = np.random.default_rng(seed)
    products: list[_Product] = []
    brands = list(rng.permutation(len(_BRANDS)))
    while len(products) < n_products:
        family = _plan_family(rng, brands)
        variants = rng.permutation(len(_VARIANTS))
        for k in range(min(int(rng.integers(1, 5)), n_products - len(products))):
            index = len(products)
            pid = f"p{index:03d}-{family.colour_name}-{family.kind}"
            products.append(
                _Product(
                    product_id=pid,
                    family=family,
                    variant=_VARIANTS[variants[k]],
                    logo=_LOGOS[int(rng.integers(len(_LOGOS)))],
                    logo_colour=_random_colour(rng),
                    pattern=_PATTERNS[int(rng.integers(len(_PATTERNS)))],
                    pattern_colour=_random_colour(rng),
                    accent=_random_colour(rng),
                    weight=f"{int(rng.choice([250, 330, 400, 500, 750, 1000]))} "
                    + ("ml" if family.kind in ("carton", "bottle", "can") else "g"),
                    barcode_seed=int(rng.integers(2**31)),
                )
            )
    return products


def _plan_family(rng: np.random.Generator, brands: list[int]) -> _Family:
    """A brand line: the next brand name (cycling), a packaging kind and colours."""
    brand_index = brands.pop(0)
    brands.append(brand_index)
    colour_name, base = _COLOURS[int(rng.integers(len(_COLOURS)))]
    label = _random_colour(rng)
    return _Family(
        brand=_BRANDS[brand_index],
        kind=_KINDS[int(rng.integers(len(_KINDS)))],
        colour_name=colour_name,
        body=_jitter(rng, base, 14),
        label=label,
        text=_contrast(label),
        band_y=float(rng.uniform(0.3, 0.55)),
        band_h=float(rng.uniform(0.16, 0.24)),
    )


def _jitter(rng: np.random.Generator, rgb: tuple, amount: int) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)
    return r, g, b


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return _jitter(rng, _COLOURS[int(rng.integers(len(_COLOURS)))][1], 30)


def _contrast(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Near-black or near-white, whichever reads on ``rgb``."""
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (22, 22, 26) if luma > 150 else (250, 250, 248)


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = (int(min(255, c * factor)) for c in rgb)
    return r, g, b


# -------------------------------------------------------------------------- drawing

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


def _draw(product: _Product, size: int) -> Image.Image:
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
    rim = Image.new("RGBA", (w, w), (*_shade(fam.body, 0.55), 255))
    rim.putalpha(alpha.filter(ImageFilter.MaxFilter(5)))
    canvas = Image.new("RGBA", (w, w), (255, 255, 255, 255))
    canvas.alpha_composite(rim)
    canvas.alpha_composite(layer)
    return canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def _draw_body(draw: ImageDraw.ImageDraw, kind: str, body: tuple, accent: tuple, w: int) -> None:
    """The package's silhouette: faces, caps and lids around the front panel."""

    def p(*xy: float) -> list[tuple[float, float]]:
        return [(xy[i] * w, xy[i + 1] * w) for i in range(0, len(xy), 2)]

    dark, light = _shade(body, 0.72), _shade(body, 1.12)
    if kind == "box":
        draw.polygon(p(0.68, 0.12, 0.8, 0.06, 0.8, 0.86, 0.68, 0.92), fill=dark)
        draw.polygon(p(0.2, 0.12, 0.32, 0.06, 0.8, 0.06, 0.68, 0.12), fill=light)
        draw.rectangle(p(0.2, 0.12, 0.68, 0.92), fill=body)
    elif kind == "carton":
        # Gable top seen from the front: a foreshortened sloping panel under a sealed
        # fin, with the side gable as a triangle.
        draw.polygon(p(0.69, 0.33, 0.76, 0.3, 0.76, 0.9, 0.69, 0.93), fill=dark)
        draw.polygon(p(0.69, 0.33, 0.76, 0.3, 0.725, 0.19), fill=_shade(body, 0.55))
        draw.rectangle(p(0.29, 0.19, 0.69, 0.33), fill=_shade(body, 0.82))
        draw.rectangle(p(0.3, 0.14, 0.715, 0.19), fill=light)
        for x in np.linspace(0.31, 0.7, 18):
            draw.line(p(x, 0.145, x, 0.185), fill=_shade(body, 0.8), width=max(1, w // 256))
        draw.rectangle(p(0.29, 0.33, 0.69, 0.93), fill=body)
        draw.line(p(0.29, 0.33, 0.69, 0.33), fill=_shade(body, 0.5), width=max(1, w // 160))
        cap = p(0.51, 0.215, 0.62, 0.305)
        draw.ellipse(cap, fill=accent, outline=_shade(accent, 0.6), width=max(1, w // 160))
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
        lid = _shade(accent, 0.8)
        draw.rounded_rectangle(p(0.24, 0.25, 0.76, 0.38), radius=0.02 * w, fill=lid)
        for x in np.linspace(0.26, 0.74, 14):
            draw.line(p(x, 0.26, x, 0.37), fill=_shade(lid, 0.75), width=max(1, w // 200))
        draw.rounded_rectangle(p(0.2, 0.36, 0.8, 0.93), radius=0.07 * w, fill=body)


def _draw_panel(
    layer: Image.Image,
    draw: ImageDraw.ImageDraw,
    product: _Product,
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
        _contrast(product.accent),
    )

    if logo_r > 2:
        _draw_logo(draw, product.logo, logo_centre, logo_r, product.logo_colour)

    small = _font(0.045 * ph)
    ink = _contrast(fam.body)
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
    outline = _shade(colour, 0.55)
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


def _draw_pattern(layer: Image.Image, product: _Product, box: tuple[float, ...]) -> None:
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


# ------------------------------------------------------------------------- writing


def _write_product(tmp: Path, product: _Product, index: int, params: dict) -> None:
    """Write the catalog image and the simulated photos of one product under ``tmp``."""
    catalog = _draw(product, params["catalog_size"])
    cat_dir = tmp / "catalog" / product.product_id
    cat_dir.mkdir(parents=True)
    catalog.save(cat_dir / "catalog.jpg", format="JPEG", quality=_CATALOG_QUALITY)
    photo_dir = tmp / "photos" / product.product_id
    photo_dir.mkdir(parents=True)
    first = params["photo_offset"]
    for j in range(first, first + params["photos_per_product"]):
        # One generator per photo, keyed by (seed, product, photo): a photo does not
        # depend on how many photos came before it.
        rng = np.random.default_rng([params["seed"], index, j])
        photo = simulate_photo(catalog, rng, size=params["photo_size"])
        photo.save(photo_dir / f"photo_{j:03d}.jpg", format="JPEG", quality=_PHOTO_QUALITY)


def _check_replaceable(root: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier synthetic dataset."""
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root}: exists and is not a folder")
    if not any(root.iterdir()) or _is_synthetic(root):
        return
    raise FileExistsError(
        f"{root}: folder exists, is not empty and is not a synthetic dataset "
        "(no dataset.json from trainer.synthetic); choose another --out"
    )


def _is_synthetic(root: Path) -> bool:
    try:
        manifest = json.loads((root / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == _GENERATOR


def _move_into_place(tmp: Path, root: Path, params: dict) -> None:
    """Rename the finished ``tmp`` to ``root``, replacing an outdated synthetic dataset."""
    if root.exists():
        _check_replaceable(root)
    try:
        replace_dir(tmp, root)
    except OSError:
        # A concurrent run may have finished first; its dataset is as good as ours.
        if not is_complete(root, params):
            raise


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the synthetic dataset and print a one-line summary.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status, 0 on success.
    """
    parser = argparse.ArgumentParser(
        prog="python -m trainer.synthetic",
        description="Write the built-in synthetic product dataset (catalog + phone photos).",
    )
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--products", type=int, default=40, help="number of products")
    parser.add_argument("--photos", type=int, default=12, help="phone photos per product")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--catalog-size", type=int, default=256, help="catalog image side")
    parser.add_argument("--photo-size", type=int, default=256, help="photo side")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    params = {
        "n_products": args.products,
        "photos_per_product": args.photos,
        "seed": args.seed,
        "catalog_size": args.catalog_size,
        "photo_size": args.photo_size,
    }
    try:
        reused = is_complete(
            args.out, {"generator": _GENERATOR, "version": FORMAT_VERSION, **params}
        )
        root = generate_dataset(args.out, progress=not args.quiet, **params)
    except (ValueError, FileExistsError) as err:
        parser.error(str(err))
    verb = "reused" if reused else "wrote"
    where = "in" if reused else "to"
    n_photos = args.products * args.photos
    print(f"{verb} {args.products} products, {n_photos} photos {where} {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
