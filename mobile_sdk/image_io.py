"""Image loading: any supported source -> oriented H x W x 3 uint8 RGB array.

The colour rules (grey replication, alpha over white, CMYK, 16-bit scaling) are
specified in PREPROCESSING.md section 1 and implemented here in numpy rather than
through PIL's ``convert`` so they do not drift with Pillow versions.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mobile_sdk.errors import DeepProductError

DEFAULT_MAX_PIXELS = 50_000_000
# The formats photos and catalog images come in (the dataset layout's suffixes; MPO
# camera files open as JPEG). Pillow identifies many more, and some of its plugins
# run external programs (EPS runs Ghostscript) on what is an untrusted file here.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")

ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Image.Image, np.ndarray]

# Modes PIL can hand us that we convert ourselves (see _to_rgb); anything else is
# refused rather than converted by an unspecified rule.
_ALPHA_VIA_PIL = {"PA", "RGBa", "La"}
_DRAFT = ("JPEG", "MPO")  # formats decoded at reduced scale when min_short_side allows
_SUPPORTED_MODES = {"1", "L", "P", "RGB", "RGBX", "RGBA", "LA", "CMYK", "I"} | _ALPHA_VIA_PIL


class ImageLoadError(DeepProductError, ValueError):
    """An image could not be loaded; ``str(err)`` is ``"<source>: <problem>"``.

    Attributes:
        source: the file path, or ``"<bytes>"``, ``"<array>"``, ``"<PIL image>"``.
        problem: what went wrong (not found, empty, not an image, truncated, too large...).
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem

    def __reduce__(self):  # keeps the error picklable across multiprocessing workers
        return (type(self), (self.source, self.problem))


# JPEG's DCT-domain scaled decoding (libjpeg through Pillow's draft): 1/2, 1/4 or 1/8
DRAFT_SCALES = (8, 4, 2)


def draft_scale(width: int, height: int, min_short_side: int | None) -> int:
    """The JPEG decoding scale of PREPROCESSING.md, section 1 "Reduced-scale decoding".

    The largest ``d`` of 8, 4, 2 with ``min(width, height) // d >= min_short_side``, or 1
    (full size) when there is none or ``min_short_side`` is None. So a photo is decoded
    smaller only when it is at least twice the size the preprocessing resizes to, and
    never below that size.
    """
    if min_short_side is None:
        return 1
    short = min(width, height)
    return next((d for d in DRAFT_SCALES if short // d >= min_short_side), 1)


def load_image(
    source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, min_short_side: int | None = None
) -> np.ndarray:
    """Load an image as an oriented RGB array.

    Args:
        source: a path (``str`` / ``os.PathLike``), encoded file bytes
            (``bytes`` / ``bytearray`` / ``memoryview``), a ``PIL.Image.Image``, or a
            uint8 array shaped H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA).
            Files, bytes and PIL images get their EXIF orientation applied; arrays
            are taken as already oriented. Animated images yield their first frame.
        max_pixels: refuse images with more than this many pixels (width * height),
            checked from the header before any pixel data is decoded.
        min_short_side: if given, a JPEG file (path or bytes) whose short side is at
            least twice this is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain,
            keeping the short side at least this (``draft_scale``; PREPROCESSING.md,
            section 1). Other formats, PIL images and arrays are never reduced.

    Returns:
        A new C-contiguous ``uint8`` array of shape (H, W, 3), RGB, after orientation.

    Raises:
        ImageLoadError: the file is missing or empty, the data is not an image in
            one of ``IMAGE_FORMATS``, it is truncated or corrupt, or it has more
            than ``max_pixels`` pixels. The message starts with the file path (or
            ``<bytes>``, ``<array>``, ``<PIL image>``).
        TypeError: ``source`` is none of the accepted types.
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        return _decode(_read_file(name), name, max_pixels, min_short_side)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageLoadError("<bytes>", "empty data")
        return _decode(data, "<bytes>", max_pixels, min_short_side)
    if isinstance(source, Image.Image):
        return _from_pil(source, "<PIL image>", max_pixels, owned=False)
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    raise TypeError(
        f"source must be a path, bytes, PIL.Image.Image or numpy array, got {type(source).__name__}"
    )


def _read_file(name: str) -> bytes:
    # Reading the bytes up front closes the file immediately and lets one decoder
    # path serve files and bytes alike; compressed files are small next to pixels.
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(name, "file not found") from None
    except IsADirectoryError:
        raise ImageLoadError(name, "is a directory, not a file") from None
    except PermissionError:
        raise ImageLoadError(name, "permission denied") from None
    except OSError as exc:
        raise ImageLoadError(name, f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageLoadError(name, "empty file")
    return data


def _decode(data: bytes, name: str, max_pixels: int, min_short_side: int | None) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check below is the policy; PIL's warning threshold
            # would only add noise (or wrongly refuse when max_pixels is larger).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(name, f"image too large ({exc})") from None
    except UnidentifiedImageError:
        raise ImageLoadError(name, "not an image or unsupported format") from None
    except MemoryError:
        raise
    except Exception as exc:  # plugins raise OSError, SyntaxError, struct.error, ...
        raise ImageLoadError(name, f"corrupt image header ({exc})") from exc
    with img:
        return _from_pil(img, name, max_pixels, owned=True, min_short_side=min_short_side)


def _from_pil(
    img: Image.Image,
    name: str,
    max_pixels: int,
    owned: bool = False,
    min_short_side: int | None = None,
) -> np.ndarray:
    """Checks, decodes, orients and converts ``img``; only an ``owned`` image is modified
    (and only an owned JPEG is decoded at reduced scale, see ``draft_scale``)."""
    width, height = img.size
    # Checked on the header size, before load(), so a decompression bomb never
    # allocates its pixels.
    if width * height > max_pixels:
        raise ImageLoadError(
            name, f"image too large ({width}x{height} = {width * height} pixels > {max_pixels})"
        )
    if width == 0 or height == 0:
        raise ImageLoadError(name, f"image has no pixels ({width}x{height})")
    scale = draft_scale(width, height, min_short_side) if owned and img.format in _DRAFT else 1
    if scale > 1:
        # Pillow picks the largest of 8, 4, 2 not above min(w // rw, h // rh): this is d
        img.draft(None, (width // scale, height // scale))
        expected = (-(-width // scale), -(-height // scale))
        if img.size != expected:  # a JPEG libjpeg cannot scale (e.g. several tiles)
            raise ImageLoadError(name, f"reduced-scale decoding gave {img.size}, not {expected}")
    try:
        # Animated formats open on frame 0, so load() decodes the first frame only.
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(name, f"image too large ({exc})") from None
    except MemoryError:
        raise
    except Exception as exc:  # decoders raise OSError, SyntaxError, zlib.error, ...
        raise ImageLoadError(name, f"truncated or corrupt image data ({exc})") from exc
    try:
        # In place saves a full-image copy, but a caller's PIL image must not change.
        if owned:
            ImageOps.exif_transpose(img, in_place=True)
        else:
            img = ImageOps.exif_transpose(img)
    except Exception as exc:  # PIL raises assorted types on malformed EXIF blocks
        raise ImageLoadError(name, f"corrupt EXIF metadata ({exc})") from exc
    return _to_rgb(img, name)


def _to_rgb(img: Image.Image, name: str) -> np.ndarray:
    mode = img.mode
    if mode.startswith("I;16"):
        mode = "I"
    if mode not in _SUPPORTED_MODES:
        raise ImageLoadError(name, f"unsupported pixel mode {img.mode!r}")
    has_key_transparency = "transparency" in img.info or (
        mode == "P" and img.palette is not None and img.palette.mode == "RGBA"
    )
    if mode in ("P", "L", "RGB") and has_key_transparency:
        # Palette / colour-key transparency is expanded to an alpha channel by PIL
        # (an exact lookup) and then composited by our own rule.
        img = img.convert("RGBA")
        mode = "RGBA"
    elif mode == "P":
        img = img.convert("RGB")  # exact palette lookup
        mode = "RGB"
    elif mode in _ALPHA_VIA_PIL:
        img = img.convert("RGBA")
        mode = "RGBA"
    elif mode == "1":
        img = img.convert("L")  # 0 -> 0, 1 -> 255
        mode = "L"
    arr = np.asarray(img)
    if mode == "RGB":
        return np.array(arr, dtype=np.uint8, order="C")
    if mode == "RGBX":
        return np.ascontiguousarray(arr[:, :, :3])
    if mode == "L":
        return _gray_to_rgb(arr)
    if mode == "LA":
        return _gray_to_rgb(_over_white(arr[:, :, 0], arr[:, :, 1]))
    if mode == "RGBA":
        return _over_white(arr[:, :, :3], arr[:, :, 3:4])
    if mode == "CMYK":
        return _cmyk_to_rgb(arr)
    return _gray_to_rgb(_sixteen_to_eight(arr))  # mode "I" / "I;16*"


def _from_array(arr: np.ndarray, max_pixels: int) -> np.ndarray:
    name = "<array>"
    if arr.dtype != np.uint8:
        raise ImageLoadError(name, f"expected dtype uint8, got {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageLoadError(name, f"expected shape HxW, HxWx3 or HxWx4, got {arr.shape}")
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise ImageLoadError(name, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            name, f"image too large ({width}x{height} = {width * height} pixels > {max_pixels})"
        )
    if arr.ndim == 2:
        return _gray_to_rgb(arr)
    if arr.shape[2] == 4:
        return _over_white(arr[:, :, :3], arr[:, :, 3:4])
    return np.array(arr, dtype=np.uint8, order="C")


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray.astype(np.uint8)[:, :, None], 3, axis=2)


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite straight-alpha ``color`` onto white: round((c*a + 255*(255-a)) / 255)."""
    c = color.astype(np.int32)
    a = alpha.astype(np.int32)
    # +127 then floor-divide rounds to nearest; 255 is odd so there are no ties.
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """Naive (no ICC profile) conversion: R = round((255-C) * (255-K) / 255), etc."""
    v = cmyk.astype(np.int32)
    nk = 255 - v[:, :, 3:4]
    return (((255 - v[:, :, :3]) * nk + 127) // 255).astype(np.uint8)


def _sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """Map 0..65535 to 0..255 by round(v / 257); mode "I" values are clipped first."""
    v = np.clip(values.astype(np.int64), 0, 65535)
    # 257 is odd, so (v + 128) // 257 is round-to-nearest with no ties.
    return ((v + 128) // 257).astype(np.uint8)
