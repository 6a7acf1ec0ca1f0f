"""The multitask term's image source when the user has labelled images (``--aux-data``).

An ImageNet-style folder: ``<root>/<class>/<images>``, classes in sorted order.
With exactly 1000 classes (ImageNet's synset folders sort into the standard class
order) the pretrained ImageNet head is trained on; otherwise a new head with one
output per folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mobile_sdk.dataset_layout import IMAGE_SUFFIXES
from mobile_sdk.errors import DatasetError
from mobile_sdk.image_io import load_image
from mobile_sdk.preprocess import resize_and_crop
from mobile_sdk.preprocess_config import PreprocessConfig
from trainer.training_images import to_tensor


class AuxiliaryImages:
    """Labelled images decoded on demand (such folders can be large).

    Raises:
        DatasetError: ``root`` is missing, has fewer than 2 class folders, or an empty class.
    """

    def __init__(self, root: str | os.PathLike, seed: int = 0):
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: --aux-data folder does not exist")
        classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if len(classes) < 2:
            raise DatasetError(f"{root}: --aux-data needs at least 2 class folders")
        self.items: list[tuple[Path, int]] = []
        empty = []
        for label, d in enumerate(classes):
            files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                empty.append(d.name)
            self.items += [(f, label) for f in files]
        if empty:
            raise DatasetError(f"{root}: class folders without images: {', '.join(empty[:10])}")
        self.num_classes = len(classes)
        self.seed = seed

    def batch(
        self, step: int, size: int, config: PreprocessConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A deterministic random batch for ``step``: images (N,3,S,S) and labels (N,)."""
        rng = np.random.default_rng([self.seed, step])
        picks = rng.choice(len(self.items), size=min(size, len(self.items)), replace=False)
        xs, ys = [], []
        for i in picks:
            path, label = self.items[int(i)]
            img = Image.fromarray(load_image(path))
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            xs.append(to_tensor(resize_and_crop(np.asarray(img), config), config))
            ys.append(label)
        return torch.stack(xs), torch.tensor(ys)
