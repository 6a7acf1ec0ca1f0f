"""Fuzz the image loader: ``mobile_sdk.image_io.load_image`` on any bytes.

Documented outcome: an (H, W, 3) uint8 array of at most ``MAX_PIXELS`` pixels, or
``ImageLoadError``. A loaded image then goes through the rest of preprocessing
(resize, crop, normalise) for a 16-pixel model input, which must give finite values.

    python fuzz/fuzz_image.py -max_total_time=60 [CORPUS_DIR]
"""

from __future__ import annotations

import io
import warnings

import atheris
import harness
import numpy as np

with atheris.instrument_imports(include=["mobile_sdk", "PIL"]):
    from PIL import Image

    from mobile_sdk.image_io import ImageLoadError, load_image
    from mobile_sdk.preprocess import normalize, resize_and_crop
    from mobile_sdk.preprocess_config import PreprocessConfig

MAX_PIXELS = 1 << 16
CONFIG = PreprocessConfig(input_size=16, crop_fraction=0.875)
# Pillow warns about what it tolerates (corrupt EXIF, ...): not a crash, and noise here.
warnings.simplefilter("ignore")


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    rgba = rgb.convert("RGBA")
    rgba.putpixel((0, 0), (1, 2, 3, 0))
    palette = rgb.convert("P")
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    out = [
        _encode(rgb, "PNG"),
        _encode(rgba, "PNG"),
        _encode(palette, "PNG", transparency=0),
        _encode(rgb.convert("L"), "PNG"),
        _encode(rgb.convert("LA"), "PNG"),
        _encode(rgb.convert("1"), "PNG"),
        _encode(Image.fromarray(np.full((3, 4), 40000, np.uint16)), "PNG"),
        _encode(rgb, "JPEG", quality=90, exif=exif.tobytes()),
        _encode(rgb, "JPEG", progressive=True),
        _encode(rgb.convert("L"), "JPEG"),
        _encode(rgb.convert("CMYK"), "JPEG"),
        _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        _encode(rgb, "BMP"),
        _encode(rgb, "TIFF"),
        _encode(rgb, "WEBP", lossless=True),
    ]
    return out


def test_one_input(data: bytes) -> None:
    try:
        image = load_image(data, max_pixels=MAX_PIXELS)
    except ImageLoadError:
        return
    h, w, c = image.shape
    assert image.dtype == np.uint8 and c == 3 and 0 < h * w <= MAX_PIXELS, image.shape
    x = normalize(resize_and_crop(image, CONFIG), CONFIG)
    assert x.shape == (16, 16, 3) and np.isfinite(x).all()


if __name__ == "__main__":
    harness.run(test_one_input, seeds())
