"""The simulator's input: a catalog image checked, shrunk, and cut out of its white (or
transparent) background."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops, ImageFilter

# A catalog background is the border's typical brightness (channel minimum); pixels
# within this many grey levels of it count as background. White packaging is usually a
# little darker than a studio-white background, so a tight tolerance keeps it intact.
_BACKGROUND_TOLERANCE = 7


# Borders darker than this are not a catalog background (e.g. a photo): keep everything.
_MIN_BACKGROUND_LEVEL = 200


def check(image: Image.Image, size: int) -> None:
    if image.width * image.height == 0:
        raise ValueError(f"image has no pixels (size {image.width}x{image.height})")
    if size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size}")


def shrink(image: Image.Image, size: int) -> Image.Image:
    """Downscale big inputs first: one bilinear warp of a much larger image would alias."""
    limit = int(1.25 * size)
    if max(image.size) <= limit:
        return image
    factor = limit / max(image.size)
    new = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(new, Image.Resampling.BILINEAR, reducing_gap=2.0)


def prepare(image: Image.Image, size: int) -> tuple[Image.Image, Image.Image | None]:
    """RGB image (at most ~1.25x the output size) and its alpha channel, if it has one."""
    check(image, size)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = shrink(image.convert("RGBA"), size)
        return rgba.convert("RGB"), rgba.getchannel("A")
    return shrink(image.convert("RGB"), size), None


def white_background_mask(rgb: Image.Image) -> Image.Image:
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


def blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``over * alpha + under * (1 - alpha)``, in place on ``over`` (it runs per photo)."""
    over -= under
    over *= alpha
    over += under
    return over


def crop_to_mask(rgb: Image.Image, mask: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Crop to the product's bounding box so the scale range refers to the product."""
    box = mask.getbbox()
    if box is None:
        return rgb, mask
    return rgb.crop(box), mask.crop(box)
