"""Tests for the preprocessing config, the triangle-fixed14 resize and normalisation.

Expected numbers are computed by hand from PREPROCESSING.md, not from the code.
"""

import json

import numpy as np
import pytest
from PIL import Image

from mobile_sdk.preprocess import (
    WEIGHT_ONE,
    ResizePlan,
    normalize,
    plan_resize,
    preprocess,
    resize_and_crop,
    resize_rgb,
    resize_weights,
)
from mobile_sdk.preprocess_config import PreprocessConfig

# Explicit values rather than PreprocessConfig() defaults: the tests pin the rules,
# whatever the model code later chooses as defaults.
CFG = PreprocessConfig(
    input_size=224,
    crop_fraction=0.875,
    mean=(127.0, 127.0, 127.0),
    std=(128.0, 128.0, 128.0),
    resize="triangle-fixed14",
)


def _gray_row(values: list[int]) -> np.ndarray:
    """A 1 x len(values) RGB image with R = G = B = values."""
    return np.repeat(np.array(values, dtype=np.uint8)[None, :, None], 3, axis=2)


def _random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    # Low-frequency content: random values on a coarse grid, interpolated smoothly.
    coarse = _random_image(h // 8 + 2, w // 8 + 2, seed)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))


# --- worked examples from PREPROCESSING.md section 4.3 -------------------------------


def test_worked_example_downscale_weights():
    index, weight = resize_weights(4, 2)
    np.testing.assert_array_equal(index, [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(weight, [[7021, 7022, 2341], [2341, 7021, 7022]])


def test_worked_example_downscale_pixels():
    out = resize_rgb(_gray_row([10, 20, 30, 40]), 2, 1)
    assert out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out[0, :, 0], [17, 33])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_worked_example_upscale():
    index, weight = resize_weights(2, 4)
    rows = [
        dict(zip(i.tolist(), w.tolist(), strict=True)) for i, w in zip(index, weight, strict=True)
    ]
    assert [r.get(0, 0) for r in rows] == [16384, 12288, 4096, 0]
    assert [r.get(1, 0) for r in rows] == [0, 4096, 12288, 16384]
    out = resize_rgb(_gray_row([10, 40]), 4, 1)
    np.testing.assert_array_equal(out[0, :, 1], [10, 18, 33, 40])


def test_vertical_pass_matches_horizontal_on_transposed_input():
    column = _gray_row([10, 20, 30, 40]).transpose(1, 0, 2)  # 4 rows x 1 column
    np.testing.assert_array_equal(resize_rgb(column, 1, 2)[:, 0, 0], [17, 33])


# --- properties of the weights and the resize -----------------------------------------


_SIZE_PAIRS = [
    (n, m)
    for n in (1, 2, 3, 5, 17, 224, 255, 256, 257, 348, 1000, 4032)
    for m in (1, 2, 7, 224, 256, 341, 999)
    if n <= 256 * m  # larger reductions are outside the rule
]


@pytest.mark.parametrize(("in_size", "out_size"), _SIZE_PAIRS)
def test_weights_sum_to_one_and_are_non_negative(in_size, out_size):
    index, weight = resize_weights(in_size, out_size)
    assert weight.dtype == np.int32
    assert weight.shape == index.shape and weight.shape[0] == out_size
    np.testing.assert_array_equal(weight.sum(axis=1), np.full(out_size, WEIGHT_ONE))
    assert weight.min() >= 0
    assert index.min() >= 0 and index.max() <= in_size - 1


def test_weights_exhaustive_small_sizes_up_to_max_reduction():
    for out_size in (1, 2, 3):
        for in_size in range(1, 256 * out_size + 1):
            _, weight = resize_weights(in_size, out_size)
            assert (weight.sum(axis=1) == WEIGHT_ONE).all(), (in_size, out_size)
            assert weight.min() >= 0, (in_size, out_size)


def test_same_size_weights_are_one_hot():
    index, weight = resize_weights(9, 9)
    for i in range(9):
        taps = weight[i] != 0
        assert taps.sum() == 1
        assert index[i][taps][0] == i
        assert weight[i][taps][0] == WEIGHT_ONE


def test_identity_resize_returns_input_exactly():
    img = _random_image(37, 53)
    out = resize_rgb(img, 53, 37)
    np.testing.assert_array_equal(out, img)
    assert out is not img


def test_one_axis_identity_matches_weight_path():
    # With equal heights the vertical pass is a copy; the horizontal pass still filters.
    img = _random_image(12, 40, seed=3)
    index, weight = resize_weights(40, 15)
    out = resize_rgb(img, 15, 12)
    expected = (
        (img[:, index].astype(np.int64) * weight[None, :, :, None]).sum(axis=2) + 8192
    ) >> 14
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


@pytest.mark.parametrize("value", [0, 1, 77, 128, 254, 255])
@pytest.mark.parametrize("size", [(5, 7), (100, 60), (33, 301)])
def test_constant_image_stays_constant(value, size):
    img = np.full((40, 90, 3), value, dtype=np.uint8)
    out = resize_rgb(img, *size)
    assert out.shape == (size[1], size[0], 3)
    assert (out == value).all()


@pytest.mark.parametrize(("in_hw", "out_wh"), [((30, 20), (50, 70)), ((300, 400), (41, 29))])
def test_output_shape_and_dtype(in_hw, out_wh):
    out = resize_rgb(_random_image(*in_hw), *out_wh)
    assert out.shape == (out_wh[1], out_wh[0], 3)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous


@pytest.mark.parametrize(
    ("in_hw", "out_hw"),
    [
        ((348, 348), (256, 256)),
        ((200, 300), (57, 91)),
        ((64, 48), (150, 111)),
        ((90, 60), (90, 25)),
    ],
)
def test_close_to_pil_bilinear(in_hw, out_hw):
    img = _smooth_image(*in_hw, seed=1)
    ours = resize_rgb(img, out_hw[1], out_hw[0]).astype(np.int16)
    pil = Image.fromarray(img).resize((out_hw[1], out_hw[0]), Image.Resampling.BILINEAR)
    diff = np.abs(ours - np.asarray(pil).astype(np.int16))
    assert diff.max() <= 2
    assert diff.mean() < 0.05  # same filter, only the fixed-point rounding differs


def test_resize_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        resize_rgb(np.zeros((4, 4, 3), np.float32), 2, 2)
    with pytest.raises(ValueError, match="shape"):
        resize_rgb(np.zeros((4, 4), np.uint8), 2, 2)
    with pytest.raises(ValueError, match="out_w"):
        resize_rgb(np.zeros((4, 4, 3), np.uint8), 0, 2)
    with pytest.raises(ValueError, match="256"):
        resize_weights(257, 1)


# --- geometry and crop ---------------------------------------------------------------


def test_plan_for_portrait_348x464():
    # S = 256; long = (2*464*256 + 348) // 696 = 341; offsets (256-224)//2, (341-224)//2.
    assert plan_resize(348, 464, CFG) == ResizePlan(256, 341, 16, 58, 224)


def test_plan_for_landscape_and_square():
    assert plan_resize(464, 348, CFG) == ResizePlan(341, 256, 58, 16, 224)
    assert plan_resize(500, 500, CFG) == ResizePlan(256, 256, 16, 16, 224)
    # 3 x 2 -> 384 x 256 exactly: no rounding on the long side.
    assert plan_resize(300, 200, CFG) == ResizePlan(384, 256, 80, 16, 224)


def test_plan_long_side_rounds_half_up():
    cfg = PreprocessConfig(input_size=16, crop_fraction=1.0)  # S = 16
    # long * S / short for a 64-wide image: 65 -> 16.25, 66 -> 16.5, 67 -> 16.75.
    assert [plan_resize(64, h, cfg).resized_height for h in (64, 65, 66, 67)] == [16, 16, 17, 17]
    assert plan_resize(66, 64, cfg).resized_width == 17


def test_resize_and_crop_equals_full_resize_then_crop():
    img = _random_image(464, 348, seed=2)  # H x W: 348 wide, 464 tall
    out = resize_and_crop(img, CFG)
    full = resize_rgb(img, 256, 341)
    assert out.shape == (224, 224, 3)
    np.testing.assert_array_equal(out, full[58 : 58 + 224, 16 : 16 + 224])


def test_resize_and_crop_upscales_small_images():
    img = _random_image(30, 50, seed=4)
    out = resize_and_crop(img, CFG)
    full = resize_rgb(img, 427, 256)  # (2*50*256 + 30) // 60 = 427
    np.testing.assert_array_equal(out, full[16:240, 101:325])


def test_resize_and_crop_works_on_strided_views():
    img = _random_image(300, 400, seed=5)
    view = img[10:290, 7:393]
    np.testing.assert_array_equal(
        resize_and_crop(view, CFG), resize_and_crop(np.ascontiguousarray(view), CFG)
    )


# --- normalisation and the full pipeline ---------------------------------------------


def test_normalize_values():
    out = normalize(np.array([[[0, 127, 255]]], dtype=np.uint8), CFG)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0], np.array([-0.9921875, 0.0, 1.0], np.float32))


def test_normalize_per_channel_float32_division():
    cfg = PreprocessConfig(input_size=16, mean=(0.0, 10.0, 0.1), std=(3.0, 0.5, 7.0))
    x = np.array([[[255, 20, 1]]], dtype=np.uint8)
    out = normalize(x, cfg)[0, 0]
    f = np.float32
    expected = [(f(255) - f(0.0)) / f(3.0), (f(20) - f(10.0)) / f(0.5), (f(1) - f(0.1)) / f(7.0)]
    np.testing.assert_array_equal(out, np.array(expected, dtype=np.float32))
    assert out[1] == 20.0


@pytest.mark.parametrize("shape", [(3,), (1, 3), (5, 7, 3), (2, 4, 6, 3)])
def test_normalize_whole_rows_equal_the_per_value_rule(shape):
    """Row-wise normalisation gives each value (f32(x) - f32(mean[c])) / f32(std[c])."""
    cfg = PreprocessConfig(input_size=16, mean=(0.3, 127.5, 99.9), std=(0.7, 58.1, 3.3))
    x = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    out = normalize(x, cfg)
    f = np.float32
    channel = np.indices(shape)[-1]
    mean = np.array(cfg.mean, f)[channel]
    std = np.array(cfg.std, f)[channel]
    expected = np.array(
        [(f(v) - m) / s for v, m, s in zip(x.ravel(), mean.ravel(), std.ravel(), strict=True)],
        f,
    ).reshape(shape)
    assert out.shape == shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


def test_preprocess_shape_and_roi():
    img = _random_image(480, 640, seed=6)
    out = preprocess(img, CFG)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, normalize(resize_and_crop(img, CFG), CFG))
    roi_out = preprocess(img, CFG, roi=(100, 50, 300, 200))
    np.testing.assert_array_equal(
        roi_out, normalize(resize_and_crop(img[50:250, 100:400], CFG), CFG)
    )


@pytest.mark.parametrize(
    "roi",
    [(0, 0, 0, 10), (-1, 0, 10, 10), (600, 0, 41, 10), (0, 0, 10, 481), (0, 0, 10), (0.5, 0, 1, 1)],
)
def test_preprocess_rejects_bad_roi(roi):
    with pytest.raises(ValueError, match="roi"):
        preprocess(_random_image(480, 640), CFG, roi=roi)


# --- PreprocessConfig ----------------------------------------------------------------


def test_resized_short_side():
    assert CFG.resized_short_side() == 256
    assert PreprocessConfig(input_size=224, crop_fraction=1.0).resized_short_side() == 224
    # 100 / 0.3 = 333.33 -> 333; 100 / 0.8 evaluates to 125.0.
    assert PreprocessConfig(input_size=100, crop_fraction=0.3).resized_short_side() == 333
    assert PreprocessConfig(input_size=100, crop_fraction=0.8).resized_short_side() == 125
    # 21 / 0.4 evaluates to exactly 52.5 in double precision and rounds half up.
    assert PreprocessConfig(input_size=21, crop_fraction=0.4).resized_short_side() == 53


def test_config_json_round_trip_and_stable_text():
    cfg = PreprocessConfig(
        input_size=192, crop_fraction=0.9, mean=(1.5, 2.0, 3.0), std=(4.0, 5.0, 6.25)
    )
    text = cfg.to_json()
    assert text == (
        '{"crop_fraction":0.9,"input_size":192,"mean":[1.5,2.0,3.0],'
        '"resize":"triangle-fixed14","std":[4.0,5.0,6.25]}'
    )
    assert PreprocessConfig.from_json(text) == cfg
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg


def test_config_from_dict_normalises_numbers():
    d = {
        "input_size": 64,
        "crop_fraction": 1,
        "mean": [0, 0, 0],
        "std": [1, 2, 3],
        "resize": "triangle-fixed14",
    }
    cfg = PreprocessConfig.from_dict(d)
    assert cfg.crop_fraction == 1.0 and isinstance(cfg.crop_fraction, float)
    assert cfg.std == (1.0, 2.0, 3.0)
    assert json.loads(cfg.to_json())["mean"] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_size", 15),
        ("input_size", 4097),
        ("input_size", 224.0),
        ("input_size", True),
        ("crop_fraction", 0.0),
        ("crop_fraction", 1.01),
        ("crop_fraction", "0.875"),
        ("crop_fraction", float("nan")),
        ("mean", [1.0, 2.0]),
        ("mean", "rgb"),
        ("std", [1.0, 0.0, 1.0]),
        ("std", [1.0, -2.0, 1.0]),
        ("resize", "bilinear"),
    ],
)
def test_config_validation_names_the_field(field, value):
    d = CFG.to_dict()
    d[field] = value
    with pytest.raises(ValueError, match=field):
        PreprocessConfig.from_dict(d)


def test_config_rejects_missing_unknown_and_non_object():
    d = CFG.to_dict()
    del d["std"]
    with pytest.raises(ValueError, match="std"):
        PreprocessConfig.from_dict(d)
    with pytest.raises(ValueError, match="colour_space"):
        PreprocessConfig.from_dict({**CFG.to_dict(), "colour_space": "srgb"})
    with pytest.raises(ValueError, match="mapping"):
        PreprocessConfig.from_json("[1, 2]")
    with pytest.raises(ValueError, match="JSON"):
        PreprocessConfig.from_json("{not json")


# --- the fast passes against the rule written out literally -------------------------


def _spec_resize(image: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """PREPROCESSING.md 4.2 term by term: integer sums over the taps, horizontal first."""

    def one_axis(src: np.ndarray, out_size: int) -> np.ndarray:  # along axis 1
        if src.shape[1] == out_size:
            return src.copy()
        index, weight = resize_weights(src.shape[1], out_size)
        out = np.empty((src.shape[0], out_size, 3), np.uint8)
        wide = src.astype(np.int64)
        for i in range(out_size):
            acc = 8192 + sum(
                int(weight[i, k]) * wide[:, index[i, k]] for k in range(index.shape[1])
            )
            out[:, i] = acc >> 14
        return out

    mid = one_axis(image, out_w)
    return one_axis(mid.transpose(1, 0, 2), out_h).transpose(1, 0, 2)


@pytest.mark.parametrize(
    "in_hw, out_wh",
    [
        ((37, 53), (11, 9)),  # reductions that are not whole numbers
        ((20, 600), (3, 20)),  # a 200x reduction on one axis, identity on the other
        ((9, 4), (31, 25)),  # upscales
        ((60, 7), (7, 200)),  # identity width, upscale height
        ((1, 1), (5, 3)),
        ((300, 2), (1, 2)),
    ],
)
def test_banded_passes_equal_the_literal_rule(in_hw, out_wh):
    img = _random_image(*in_hw, seed=sum(in_hw))
    np.testing.assert_array_equal(resize_rgb(img, *out_wh), _spec_resize(img, *out_wh))


def test_banded_passes_on_extreme_pixels():
    # every sample 0 or 255 in blocks: the largest accumulators the rule allows
    rng = np.random.default_rng(11)
    img = (rng.integers(0, 2, (120, 97, 1)) * 255).astype(np.uint8).repeat(3, axis=2)
    img[::2, ::3] = 255
    for out_wh in [(13, 50), (97, 7), (240, 3)]:
        np.testing.assert_array_equal(resize_rgb(img, *out_wh), _spec_resize(img, *out_wh))
    crop = resize_and_crop(img, CFG)
    np.testing.assert_array_equal(crop, _spec_resize(img, 256, 317)[46:270, 16:240])
