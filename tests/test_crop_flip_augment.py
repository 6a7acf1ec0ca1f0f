"""The plain fine-tune's crop/flip/brightness augmentation."""

import numpy as np
import pytest
from PIL import Image

from trainer.crop_flip_augment import crop_flip_brightness


def _image(w=300, h=200):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_output_shape_and_determinism():
    img = _image()
    a = crop_flip_brightness(img, np.random.default_rng(5), 224)
    b = crop_flip_brightness(img, np.random.default_rng(5), 224)
    c = crop_flip_brightness(img, np.random.default_rng(6), 224)
    assert a.shape == (224, 224, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("size", [96, 256])
def test_any_mode_and_size(size):
    grey = _image(40, 90).convert("L")
    assert crop_flip_brightness(grey, np.random.default_rng(1), size).shape == (size, size, 3)


def test_brightness_range_on_a_flat_image():
    flat = Image.new("RGB", (256, 256), (100, 100, 100))
    values = [
        int(crop_flip_brightness(flat, np.random.default_rng(s), 64)[0, 0, 0]) for s in range(200)
    ]
    assert min(values) >= 100 * 0.7 - 25 - 1 and max(values) <= 100 * 1.3 + 25 + 1
    assert max(values) - min(values) > 60  # both gain and offset vary


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="size"):
        crop_flip_brightness(_image(), np.random.default_rng(0), 0)
