"""Which real images calibrate int8 ranges and check parity, preprocessed exactly
as at run time (``mobile_sdk.preprocess.preprocess``)."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from export.errors import CalibrationError
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import DatasetError
from mobile_sdk.image_io import ImageLoadError
from mobile_sdk.preprocess import preprocess
from mobile_sdk.preprocess_config import PreprocessConfig

DEFAULT_CALIBRATION_IMAGES = 200


def load_dataset(root: str | os.PathLike, role: str) -> Dataset:
    """Scan a dataset folder in the standard layout.

    Raises:
        CalibrationError: the folder is missing or not in the standard layout; the
            message names the folder and its ``role`` ("calibration", "evaluation").
    """
    path = Path(root)
    if not path.is_dir():
        raise CalibrationError(f"{path}: {role} folder not found")
    try:
        return scan_dataset(path)
    except DatasetError as e:
        raise CalibrationError(f"{role} data: {e}") from None


def select_calibration_files(dataset: Dataset, count: int, seed: int = 0) -> list[Path]:
    """Up to ``count`` images: every product's catalog images and phone photos, mixed.

    Catalog images and photos are drawn in equal shares where both exist (the
    model sees both at run time: catalog images when the index is built, photos
    when the user searches), each share shuffled with ``seed``; the result is sorted
    by path so that the selection, not the order, is what the seed decides.

    Raises:
        CalibrationError: ``count`` < 1 or the dataset has no images.
    """
    if count < 1:
        raise CalibrationError(f"the number of calibration images must be >= 1, got {count}")
    catalog, photos = dataset.gallery().files, dataset.queries().files
    if not catalog and not photos:
        raise CalibrationError(f"{dataset.root}: no images to calibrate with")
    rng = random.Random(seed)
    rng.shuffle(catalog)
    rng.shuffle(photos)
    n_photos = min(len(photos), max(count // 2, count - len(catalog)))
    n_catalog = min(len(catalog), count - n_photos)
    return sorted(catalog[:n_catalog] + photos[:n_photos])


def preprocess_files(
    files: Sequence[Path], config: PreprocessConfig, progress: bool = True, desc: str = "images"
) -> np.ndarray:
    """(N, S, S, 3) float32 model inputs of ``files``, in order.

    Raises:
        CalibrationError: an image cannot be loaded (the message names it).
    """
    size = config.input_size
    out = np.empty((len(files), size, size, 3), np.float32)
    for i, f in enumerate(tqdm(files, desc=desc, unit="img", disable=not progress, leave=False)):
        try:
            out[i] = preprocess(f, config)
        except ImageLoadError as e:
            raise CalibrationError(f"cannot use image {e}") from None
    return out
