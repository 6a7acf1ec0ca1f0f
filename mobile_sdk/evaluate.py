"""Retrieval evaluation of exported model files (``.tflite`` / ``.onnx``) through
:class:`mobile_sdk.embedder.Embedder`: the same code path an app's index takes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.embedder import Embedder
from mobile_sdk.retrieval_metrics import RetrievalResult, retrieval_metrics


def embed_files(
    embedder: Embedder,
    files: Sequence[Path],
    progress: bool = True,
    desc: str = "embedding",
    crop_fraction: float | None = None,
) -> np.ndarray:
    """Embeddings (N, D) of image files, in order, with a progress bar.

    Args:
        crop_fraction: the centre crop instead of the model's (see ``Embedder.embed``).

    Raises:
        ImageLoadError: an image cannot be loaded.
    """
    rows = [
        embedder.embed(f, crop_fraction=crop_fraction)
        for f in tqdm(files, desc=desc, unit="img", disable=not progress, leave=False)
    ]
    if not rows:
        return np.zeros((0, embedder.metadata.embedding_dim), np.float32)
    return np.stack(rows)


def evaluate_embedder(
    embedder: Embedder, dataset: Dataset, progress: bool = True
) -> RetrievalResult:
    """Top-1/top-5/mAP of ranking ``dataset``'s catalog products for each of its photos.

    Raises:
        ImageLoadError: an image cannot be loaded.
        ValueError: the dataset has no photos.
    """
    (gallery_files, gallery_ids), (query_files, query_ids) = dataset.gallery(), dataset.queries()
    gallery = embed_files(embedder, gallery_files, progress, desc="catalog")
    queries = embed_files(embedder, query_files, progress, desc="photos")
    return retrieval_metrics(
        queries.astype(np.float32), query_ids, gallery.astype(np.float32), gallery_ids
    )
