"""Training images: decoded once, turned into augmented, normalised tensors per sample key."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset as TorchDataset
from tqdm import tqdm

from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.image_io import load_image
from mobile_sdk.preprocess import normalize, resize_and_crop
from mobile_sdk.preprocess_config import PreprocessConfig
from trainer.crop_flip_augment import crop_flip_brightness
from trainer.sampler import CATALOG, PHOTO, SIMULATED, SampleKey
from trainer.simulator import augment_photo, simulate_photo

# Decoded images are cached at this many pixels on the long side: phone photos
# are usually far larger than the model input, and decoding dominates otherwise.
_CACHE_LONG_SIDE = 512


def _decode(path) -> Image.Image:
    img = Image.fromarray(load_image(path))
    if max(img.size) > _CACHE_LONG_SIDE:
        img.thumbnail((_CACHE_LONG_SIDE, _CACHE_LONG_SIDE), Image.Resampling.BILINEAR)
    return img


def catalog_view(
    image: Image.Image, rng: np.random.Generator, config: PreprocessConfig
) -> np.ndarray:
    """A catalog image as the runtime will see it, with a slight random zoom.

    The gallery side of a pair stays clean: at search time catalog images are
    embedded as they are.
    """
    w, h = image.size
    f = rng.uniform(0.9, 1.0)
    cw, ch = max(1, round(w * f)), max(1, round(h * f))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = np.asarray(image.crop((x0, y0, x0 + cw, y0 + ch)))
    return resize_and_crop(crop, config)


def to_tensor(pixels: np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """uint8 (S, S, 3) RGB -> normalised float tensor (3, S, S)."""
    return torch.from_numpy(normalize(pixels, config)).permute(2, 0, 1).contiguous()


# the third item of a training sample: which kind of slot it fills
KIND_CODES = {CATALOG: 0, PHOTO: 1, SIMULATED: 2}


class TrainingImages(TorchDataset):
    """Maps a :class:`SampleKey` to ``(image tensor, product index, kind code)``.

    The kind code is ``KIND_CODES[key.kind]``: 0 catalog, 1 real photo, 2 simulated
    photo (so ``code > 0`` means "a photo").

    With ``augment="simulator"``, catalog slots give a clean catalog view; photo slots
    an augmented real photo (crops keep at least ``photo_min_area`` of it); simulated
    slots a phone photo simulated from a catalog image. With ``augment="crop-flip"``,
    catalog and photo slots alike get :func:`crop_flip_brightness`. Catalog keys of
    seed 0 (:meth:`catalog_keys`, what the catalog memory embeds) always give the
    clean catalog view.
    """

    def __init__(
        self,
        dataset: Dataset,
        config: PreprocessConfig,
        progress: bool = True,
        photo_min_area: float = 0.6,
        augment: str = "simulator",
    ):
        if augment not in ("simulator", "crop-flip"):
            raise ValueError(f"augment must be 'simulator' or 'crop-flip', got {augment!r}")
        self.config = config
        self.photo_min_area = photo_min_area
        self.augment = augment
        files = [(i, CATALOG, f) for i, p in enumerate(dataset.products) for f in p.catalog]
        files += [(i, PHOTO, f) for i, p in enumerate(dataset.products) for f in p.photos]
        self.catalog: list[list[Image.Image]] = [[] for _ in dataset.products]
        self.photos: list[list[Image.Image]] = [[] for _ in dataset.products]
        for i, kind, f in tqdm(files, desc="decoding images", unit="img", disable=not progress):
            (self.catalog if kind == CATALOG else self.photos)[i].append(_decode(f))

    def __len__(self) -> int:
        return sum(map(len, self.catalog)) + sum(map(len, self.photos))

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, int, int]:
        rng = np.random.default_rng(key.seed)
        size = self.config.input_size
        if self.augment == "crop-flip" and key.kind != SIMULATED and key.seed != 0:
            source = self.catalog if key.kind == CATALOG else self.photos
            pixels = crop_flip_brightness(source[key.product][key.item], rng, size)
        elif key.kind == CATALOG:
            pixels = catalog_view(self.catalog[key.product][key.item], rng, self.config)
        elif key.kind == PHOTO:
            photo = self.photos[key.product][key.item]
            pixels = np.asarray(augment_photo(photo, rng, size=size, min_area=self.photo_min_area))
        elif key.kind == SIMULATED:
            pixels = np.asarray(simulate_photo(self.catalog[key.product][key.item], rng, size=size))
        else:
            raise ValueError(f"unknown sample kind {key.kind!r}")
        return to_tensor(pixels, self.config), key.product, KIND_CODES[key.kind]

    def catalog_keys(self) -> list[SampleKey]:
        """One key per catalog image (the mild catalog view, seed 0)."""
        return [
            SampleKey(p, CATALOG, i, 0)
            for p, imgs in enumerate(self.catalog)
            for i in range(len(imgs))
        ]
