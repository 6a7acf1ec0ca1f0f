"""Tests for load_image: sources, orientation, colour rules and error reporting.

Colour expectations are hand-computed from PREPROCESSING.md section 1.
"""

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from mobile_sdk.image_io import ImageLoadError, load_image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _with_orientation(img: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(img, fmt, exif=exif.tobytes())


def _noisy_jpeg(size: int) -> bytes:
    # Noise compresses badly, so the scan data is long enough to cut in half.
    return _encode(Image.fromarray(_random_rgb(size, size, seed=9)), "JPEG", quality=95)


# --- sources --------------------------------------------------------------------------


def test_rgb_png_path_bytes_and_pil_agree(tmp_path):
    arr = _random_rgb(7, 11)
    path = tmp_path / "x.png"
    Image.fromarray(arr).save(path)
    for source in (path, str(path), path.read_bytes(), Image.open(path)):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (7, 11, 3)
        np.testing.assert_array_equal(out, arr)


def test_array_inputs():
    rgb = _random_rgb(4, 5)
    out = load_image(rgb)
    np.testing.assert_array_equal(out, rgb)
    assert not np.shares_memory(out, rgb)

    gray = np.array([[0, 9], [200, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(load_image(gray), np.stack([gray] * 3, axis=2))

    rgba = np.array([[[200, 100, 0, 128], [1, 2, 3, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(load_image(rgba), [[[227, 177, 127], [255, 255, 255]]])


# --- orientation ----------------------------------------------------------------------


def test_exif_orientation_6_jpeg_is_rotated_clockwise(tmp_path):
    stored = np.zeros((16, 32, 3), dtype=np.uint8)  # 32 wide, 16 tall
    stored[:, :16] = RED
    stored[:, 16:] = BLUE
    path = tmp_path / "phone.jpg"
    path.write_bytes(_with_orientation(Image.fromarray(stored), "JPEG", 6))
    out = load_image(path)
    # Rotating 90 degrees clockwise turns the stored left (red) half into the top half.
    assert out.shape == (32, 16, 3)
    np.testing.assert_allclose(out[4, 8], RED, atol=8)
    np.testing.assert_allclose(out[27, 8], BLUE, atol=8)


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        (1, lambda a: a),
        (2, lambda a: a[:, ::-1]),
        (3, lambda a: a[::-1, ::-1]),
        (4, lambda a: a[::-1]),
        (5, lambda a: a.transpose(1, 0, 2)),
        (6, lambda a: np.rot90(a, -1)),
        (7, lambda a: a.transpose(1, 0, 2)[::-1, ::-1]),
        (8, lambda a: np.rot90(a, 1)),
        (9, lambda a: a),  # out-of-range values are ignored
    ],
)
def test_every_exif_orientation_exactly(orientation, expected):
    stored = _random_rgb(3, 5, seed=orientation)
    data = _with_orientation(Image.fromarray(stored), "PNG", orientation)
    np.testing.assert_array_equal(load_image(data), expected(stored))


def test_callers_pil_image_is_oriented_but_not_modified():
    stored = _random_rgb(3, 5, seed=1)
    img = Image.open(io.BytesIO(_with_orientation(Image.fromarray(stored), "PNG", 6)))
    np.testing.assert_array_equal(load_image(img), np.rot90(stored, -1))
    assert img.size == (5, 3)
    assert img.getexif()[0x0112] == 6


def test_arrays_are_not_reoriented():
    stored = _random_rgb(3, 5)
    np.testing.assert_array_equal(load_image(stored), stored)


# --- colour rules ---------------------------------------------------------------------


def test_grayscale_and_bilevel_are_replicated():
    gray = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    out = load_image(_encode(Image.fromarray(gray), "PNG"))
    np.testing.assert_array_equal(out, np.stack([gray] * 3, axis=2))

    bilevel = Image.fromarray(np.array([[0, 255, 0]], dtype=np.uint8)).convert("1")
    np.testing.assert_array_equal(load_image(_encode(bilevel, "PNG"))[0, :, 0], [0, 255, 0])


def test_palette_png():
    img = Image.new("P", (3, 1))
    img.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90])
    img.putdata([2, 0, 1])
    out = load_image(_encode(img, "PNG"))
    np.testing.assert_array_equal(out, [[[70, 80, 90], [10, 20, 30], [40, 50, 60]]])


def test_palette_transparency_composites_on_white():
    img = Image.new("P", (2, 1))
    img.putpalette([10, 20, 30, 40, 50, 60])
    img.putdata([0, 1])
    out = load_image(_encode(img, "PNG", transparency=1))
    np.testing.assert_array_equal(out, [[[10, 20, 30], [255, 255, 255]]])


def test_rgba_composites_on_white():
    rgba = np.array([[[200, 100, 0, 128], [9, 8, 7, 0], [9, 8, 7, 255]]], dtype=np.uint8)
    out = load_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    # (200*128 + 255*127 + 127) // 255 = 227; (100*128 + 32385 + 127) // 255 = 177;
    # (0 + 32385 + 127) // 255 = 127.
    np.testing.assert_array_equal(out, [[[227, 177, 127], [255, 255, 255], [9, 8, 7]]])


def test_gray_alpha_composites_on_white():
    la = Image.fromarray(np.array([[[50, 128], [50, 255]]], dtype=np.uint8), "LA")
    out = load_image(_encode(la, "PNG"))
    # (50*128 + 255*127 + 127) // 255 = 152.
    np.testing.assert_array_equal(out, [[[152, 152, 152], [50, 50, 50]]])


def test_rgb_colour_key_transparency():
    rgb = np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.uint8)
    out = load_image(_encode(Image.fromarray(rgb), "PNG", transparency=(4, 5, 6)))
    np.testing.assert_array_equal(out, [[[1, 2, 3], [255, 255, 255]]])


def test_cmyk_formula_exact():
    img = Image.new("CMYK", (1, 1), (100, 50, 20, 30))
    # R = (155*225 + 127)//255 = 137, G = (205*225 + 127)//255 = 181,
    # B = (235*225 + 127)//255 = 207.
    np.testing.assert_array_equal(load_image(img), [[[137, 181, 207]]])


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    img.paste((255, 0, 0, 0), (8, 0, 16, 8))  # right half pure cyan
    path = tmp_path / "print.jpg"
    img.save(path, "JPEG", quality=95)
    out = load_image(path)
    assert out.shape == (8, 16, 3)
    np.testing.assert_allclose(out[4, 2], (255, 255, 255), atol=4)
    np.testing.assert_allclose(out[4, 13], (0, 255, 255), atol=4)


def test_16bit_gray_png_is_rounded_to_8bit():
    values = np.array([[0, 128, 129, 257, 32767, 32896, 65535]], dtype=np.uint16)
    img = Image.fromarray(values)
    assert img.mode == "I;16"
    out = load_image(_encode(img, "PNG"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 1, 1, 127, 128, 255])


def test_32bit_int_image_is_clipped_then_scaled():
    img = Image.fromarray(np.array([[-5, 70000, 65535, 257]], dtype=np.int32), "I")
    np.testing.assert_array_equal(load_image(img)[0, :, 2], [0, 255, 255, 1])


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = load_image(data)
    assert out.shape == (4, 4, 3)
    assert (out == RED).all()


def test_unsupported_mode_is_refused():
    with pytest.raises(ImageLoadError, match="unsupported pixel mode 'F'"):
        load_image(Image.new("F", (2, 2)))


# --- errors ---------------------------------------------------------------------------


def test_truncated_jpeg_names_the_file(tmp_path):
    path = tmp_path / "cut.jpg"
    data = _noisy_jpeg(64)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated") as err:
        load_image(path)
    assert str(path) in str(err.value)
    assert err.value.source == str(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty file"):
        load_image(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageLoadError, match="not an image") as err:
        load_image(path)
    assert str(err.value).startswith(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_too_large_is_refused():
    data = _encode(Image.new("RGB", (100, 60)), "PNG")
    with pytest.raises(ImageLoadError, match="too large") as err:
        load_image(data, max_pixels=5999)
    assert str(err.value).startswith("<bytes>")
    assert load_image(data, max_pixels=6000).shape == (60, 100, 3)


def test_size_is_checked_before_decoding():
    # Cut data would fail to decode; refusing it as too large proves decode never ran.
    data = _noisy_jpeg(64)
    data = data[: len(data) // 2]
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(data, max_pixels=1000)


def test_pil_decompression_bomb_error_is_reported(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = _encode(Image.new("RGB", (100, 60)), "PNG")  # 6000 > 2 * 1000 -> PIL raises
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(data)


def test_bad_arrays_and_bytes():
    with pytest.raises(ImageLoadError, match="<array>: expected dtype uint8"):
        load_image(np.zeros((2, 2, 3), dtype=np.float32))
    with pytest.raises(ImageLoadError, match="<array>: expected shape"):
        load_image(np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(ImageLoadError, match="no pixels"):
        load_image(np.zeros((0, 2, 3), dtype=np.uint8))
    with pytest.raises(ImageLoadError, match="<bytes>: empty"):
        load_image(b"")
    with pytest.raises(TypeError):
        load_image(42)


def test_error_is_value_error_and_picklable():
    err = ImageLoadError("a.jpg", "empty file")
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == "a.jpg: empty file"
    assert (copy.source, copy.problem) == ("a.jpg", "empty file")


# --- reduced-scale JPEG decoding (PREPROCESSING.md section 1) -------------------------


@pytest.mark.parametrize(
    ("size", "scale"),
    [((348, 348), 1), ((511, 4000), 1), ((512, 600), 2), ((1280, 960), 2), ((1920, 1080), 4)]
    + [((4032, 3024), 8), ((9000, 9000), 8)],
)
def test_draft_scale_follows_the_table(size, scale):
    from mobile_sdk.image_io import draft_scale

    assert draft_scale(*size, 256) == scale
    assert draft_scale(*size, None) == 1


def _photo_like(w: int, h: int) -> Image.Image:
    from benchmarks.frames import synthetic_frame

    return Image.fromarray(synthetic_frame((w, h)))


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path):
    data = _encode(_photo_like(1280, 960), "JPEG", quality=90)
    assert load_image(data).shape == (960, 1280, 3)
    reduced = load_image(data, min_short_side=256)
    assert reduced.shape == (480, 640, 3)
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    np.testing.assert_array_equal(load_image(path, min_short_side=256), reduced)
    # below twice the short side: full size
    assert load_image(data, min_short_side=481).shape == (960, 1280, 3)
    # the reduced decode is a smaller version of the same picture (DCT-domain scaling)
    full = np.asarray(Image.fromarray(load_image(data)).reduce(2), np.int16)
    assert np.abs(full - reduced.astype(np.int16)).mean() < 4


def test_reduced_scale_keeps_orientation_and_skips_other_formats():
    img = _photo_like(1100, 700)
    rotated = load_image(_with_orientation(img, "JPEG", 6), min_short_side=300)
    assert rotated.shape == (550, 350, 3)  # stored 1100 x 700 at 1/2, then turned
    assert load_image(_encode(img, "PNG"), min_short_side=100).shape == (700, 1100, 3)
    assert load_image(img, min_short_side=100).shape == (700, 1100, 3)
    assert load_image(np.asarray(img), min_short_side=100).shape == (700, 1100, 3)


def test_preprocess_decodes_large_jpegs_small_unless_there_is_a_roi():
    from mobile_sdk.preprocess import normalize, preprocess, resize_and_crop
    from mobile_sdk.preprocess_config import PreprocessConfig

    cfg = PreprocessConfig(input_size=224, crop_fraction=0.875)  # S = 256
    data = _encode(_photo_like(1280, 960), "JPEG", quality=90)
    reduced = normalize(resize_and_crop(load_image(data, min_short_side=256), cfg), cfg)
    full = normalize(resize_and_crop(load_image(data), cfg), cfg)
    np.testing.assert_array_equal(preprocess(data, cfg), reduced)
    assert not np.array_equal(reduced, full)
    assert np.abs(reduced - full).mean() < 0.03  # under 4 levels of 255 on average
    roi = (0, 0, 1280, 960)
    np.testing.assert_array_equal(preprocess(data, cfg, roi=roi), full)
