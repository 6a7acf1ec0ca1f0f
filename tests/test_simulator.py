"""Phone-photo simulator: shapes, determinism, each effect on its own, input handling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from trainer.simulator import SimulatorConfig, augment_photo, simulate_photo

SIZE = 96
EFFECTS = [f.name for f in dataclasses.fields(SimulatorConfig) if f.name.endswith("_prob")]


def _product(width: int = 80, height: int = 80) -> Image.Image:
    """A packaging-like test image: textured red box with a blue band, on white."""
    arr = np.full((height, width, 3), 255, dtype=np.uint8)
    y0, y1, x0, x1 = height // 8, height - height // 8, width // 4, width - width // 4
    arr[y0:y1, x0:x1] = (200, 30, 40)
    arr[y0:y1:4, x0:x1] = (240, 200, 40)  # stripes, so blur has edges to soften
    band = (y0 + y1) // 2
    arr[band - height // 10 : band + height // 10, x0:x1] = (30, 60, 170)
    return Image.fromarray(arr, "RGB")


def _photo(image: Image.Image, seed: int, config: SimulatorConfig, size: int = SIZE) -> np.ndarray:
    out = simulate_photo(image, np.random.default_rng(seed), config, size=size)
    return np.asarray(out, dtype=np.float64)


def _only(effect: str) -> SimulatorConfig:
    return dataclasses.replace(SimulatorConfig.all_off(), **{effect: 1.0})


def test_output_is_rgb_square_of_requested_size_for_any_input_shape():
    for image, size in ((_product(), 96), (_product(50, 130), 64), (_product(400, 300), 128)):
        out = simulate_photo(image, np.random.default_rng(0), size=size)
        assert out.mode == "RGB"
        assert out.size == (size, size)


def test_same_seed_gives_identical_bytes_and_other_seeds_differ():
    image = _product()
    a = simulate_photo(image, np.random.default_rng(7), size=SIZE).tobytes()
    b = simulate_photo(image, np.random.default_rng(7), size=SIZE).tobytes()
    others = {
        simulate_photo(image, np.random.default_rng(s), size=SIZE).tobytes() for s in range(5)
    }
    assert a == b
    assert len(others) == 5


def test_all_effects_off_returns_the_resized_input():
    image = _product()
    out = _photo(image, 0, SimulatorConfig.all_off())
    resized = np.asarray(image.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float64)
    assert np.abs(out - resized).mean() < 1.5
    # Away from the silhouette (where the mask is feathered) it is the same image.
    assert np.abs(out[40:56, 40:56] - resized[40:56, 40:56]).max() <= 2
    assert np.abs(out[:5, :5] - 255).max() == 0


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_changes_pixels_when_switched_on_alone(effect):
    image = _product()
    base = _photo(image, 0, SimulatorConfig.all_off())
    changes = [np.abs(_photo(image, seed, _only(effect)) - base).mean() for seed in range(3)]
    assert min(changes) > 1.0, changes


def test_switched_off_effects_ignore_their_strength_settings():
    strong = dataclasses.replace(
        SimulatorConfig.all_off(),
        perspective_strength=0.4,
        rotation_max_deg=40.0,
        scale_range=(0.2, 0.3),
        max_offset=0.4,
        shadow_strength=1.0,
        lighting_strength=0.9,
        color_cast_strength=0.5,
        glare_strength=1.0,
        blur_max=5.0,
        noise_max_sigma=30.0,
        jpeg_quality=(5, 10),
    )
    image = _product()
    assert np.array_equal(_photo(image, 3, strong), _photo(image, 3, SimulatorConfig.all_off()))


def test_background_replaces_white_but_keeps_the_product():
    image = _product()
    base = _photo(image, 0, SimulatorConfig.all_off())
    for seed in range(4):
        out = _photo(image, seed, _only("background_prob"))
        corners = np.concatenate([out[:8, :8], out[:8, -8:], out[-8:, :8], out[-8:, -8:]])
        assert corners.mean() < 245
        # The product (centred, no geometry) is composited over the clutter unchanged.
        assert np.abs(out[40:56, 40:56] - base[40:56, 40:56]).max() <= 2


def test_white_product_inside_an_outline_is_not_mistaken_for_background():
    arr = np.full((80, 80, 3), 255, dtype=np.uint8)
    arr[10:70, 20:60] = (60, 60, 60)  # outline
    arr[12:68, 22:58] = (246, 246, 246)  # white carton body
    config = _only("background_prob")
    out = _photo(Image.fromarray(arr), 1, config, size=80)
    assert np.abs(out[20:60, 30:50] - 246).max() <= 2


def test_image_without_white_border_is_kept_whole():
    arr = np.zeros((64, 64, 3), dtype=np.uint8)
    arr[..., 1] = 150
    arr[::3, :, 0] = 220  # a photo-like image: no background to remove
    image = Image.fromarray(arr)
    out = _photo(image, 2, _only("background_prob"), size=64)
    assert np.abs(out - _photo(image, 2, SimulatorConfig.all_off(), size=64)).max() <= 1


def test_rgba_alpha_is_the_product_mask():
    arr = np.zeros((80, 80, 4), dtype=np.uint8)  # transparent *black* background
    arr[10:70, 20:60] = (30, 160, 60, 255)
    image = Image.fromarray(arr, "RGBA")
    off = _photo(image, 0, SimulatorConfig.all_off(), size=80)
    assert np.abs(off[:6, :6] - 255).max() == 0  # composited on white, not black
    assert np.abs(off[35:45, 35:45] - (30, 160, 60)).max() <= 1
    cluttered = _photo(image, 0, _only("background_prob"), size=80)
    assert np.abs(cluttered[35:45, 35:45] - (30, 160, 60)).max() <= 1
    assert not np.array_equal(cluttered[:6, :6], off[:6, :6])


def test_other_modes_are_converted():
    for mode in ("L", "P", "LA", "CMYK"):
        image = _product().convert(mode)
        out = simulate_photo(image, np.random.default_rng(0), size=48)
        assert out.mode == "RGB" and out.size == (48, 48)


def test_empty_image_and_bad_size_raise_value_error():
    with pytest.raises(ValueError, match="no pixels"):
        simulate_photo(Image.new("RGB", (0, 10)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="no pixels"):
        augment_photo(Image.new("RGB", (10, 0)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="size"):
        simulate_photo(_product(), np.random.default_rng(0), size=0)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="hand_prob"):
        SimulatorConfig(hand_prob=1.5)
    with pytest.raises(ValueError, match="scale_range"):
        SimulatorConfig(scale_range=(1.0, 0.5))
    with pytest.raises(ValueError, match="jpeg_quality"):
        SimulatorConfig(jpeg_quality=(30, 120))
    with pytest.raises(ValueError, match="noise_max_sigma"):
        SimulatorConfig(noise_max_sigma=-1.0)
    assert all(getattr(SimulatorConfig.all_off(), name) == 0.0 for name in EFFECTS)


def test_augment_photo_is_deterministic_light_and_square():
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).resize(
        (240, 180), Image.Resampling.BILINEAR
    )
    a = augment_photo(photo, np.random.default_rng(4), size=64)
    b = augment_photo(photo, np.random.default_rng(4), size=64)
    c = augment_photo(photo, np.random.default_rng(5), size=64)
    assert a.mode == "RGB" and a.size == (64, 64)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    # Light: the overall colour stays close to the original's.
    mean_in = np.asarray(photo, dtype=np.float64).mean(axis=(0, 1))
    mean_out = np.asarray(a, dtype=np.float64).mean(axis=(0, 1))
    assert np.abs(mean_in - mean_out).max() < 50


def test_augment_photo_min_area_sets_how_close_a_view_can_be():
    photo = np.zeros((180, 240, 3), np.uint8)
    photo[:, :120] = (200, 30, 30)  # red left half
    photo[:, 120:] = (30, 30, 200)  # blue right half
    photo = Image.fromarray(photo)

    def minority_share(min_area: float, seed: int) -> float:
        out = np.asarray(augment_photo(photo, np.random.default_rng(seed), 64, min_area))
        blue = (out[..., 2].astype(int) > out[..., 0]).mean()
        return min(blue, 1 - blue)

    # whole-photo crops always show both halves; close crops sometimes only one
    assert min(minority_share(1.0, s) for s in range(20)) > 0.15
    assert min(minority_share(0.1, s) for s in range(20)) < 0.05
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="min_area"):
            augment_photo(photo, np.random.default_rng(0), 64, bad)
