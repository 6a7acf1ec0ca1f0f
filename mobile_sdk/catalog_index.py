"""A dataset's catalog folder -> a product index (one row per catalog image and view).

``ProductIndex.build`` is this; it lives apart from the in-memory index because it
knows the dataset layout and drives an embedder with a progress bar.

Extra views (``extra_crops``): each catalog image can be indexed a second (third...)
time with another centre-crop fraction than the model's, e.g. 1.0, the whole image.
A product scores its best row, so a photo framed like either view finds it. On the
yardstick's ten CPU runs (``benchmarks/index_views.py``, README Results) the
whole-image view changed top-1 by +0.2 / 0.0 / +1.1 / +1.1 points (seen / seen (val) /
catalog-only / unseen), +0.3 / +0.4 / +1.4 / +1.6 on the default recipe's five, for
twice the rows (100k images: 27 -> 53 MB int8, exact search 2.1 -> 3.7 ms on one
x86 thread); through the int8 model.tflite +0.6 / +0.7 / +2.1 / +1.2. The command
``deepproduct index`` adds the whole-image view by default; this API only when asked.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.index_format import IndexFormatError, encode_id
from mobile_sdk.quantization import VectorError

if TYPE_CHECKING:
    from mobile_sdk.index import EmbedderLike, ProductIndex


def build_catalog_index(
    index_type: type[ProductIndex],
    embedder: EmbedderLike,
    catalog_dir: str | os.PathLike,
    dtype: str = "float32",
    progress: bool = True,
    batch_size: int = 32,
    extra_crops: Sequence[float] = (),
) -> ProductIndex:
    """Embed every catalog image of a dataset and index it: see ``ProductIndex.build``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise IndexFormatError(f"batch_size must be a positive int, got {batch_size!r}")
    extra_crops = check_extra_crops(extra_crops)
    folder = Path(catalog_dir)
    root = (
        folder.parent if folder.name == "catalog" and not (folder / "catalog").is_dir() else folder
    )
    products = scan_dataset(root).products
    for product in products:  # before the (long) embedding, not after it
        try:
            encode_id(product.product_id)
        except IndexFormatError as e:
            raise IndexFormatError(f"{product.catalog[0].parent}: {e}") from None
    items = [(p.product_id, f) for p in products for f in p.catalog]
    index = index_type(embedder.embedding_dim, embedder.fingerprint, dtype)
    with tqdm(total=len(items), unit="img", desc="indexing", disable=not progress) as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            files = [f for _, f in chunk]
            # one (N, D) block per view: the model's crop, then each extra crop
            views = [_embed(embedder, files, index.dim)]
            views += [_embed(embedder, files, index.dim, crop) for crop in extra_crops]
            for row, (product_id, image) in enumerate(chunk):
                for view in views:  # an image's rows stay together, model's crop first
                    try:
                        index.add(product_id, view[row])
                    except VectorError as e:
                        raise VectorError(f"{image}: bad embedding ({e})") from None
            bar.update(len(chunk))
    return index


def check_extra_crops(extra_crops: Sequence[float]) -> tuple[float, ...]:
    """The extra views' crop fractions as floats, each in (0, 1], no repeats.

    Raises:
        IndexFormatError: not a sequence of numbers in (0, 1], or a value repeated.
    """
    if isinstance(extra_crops, (str, bytes)) or not isinstance(extra_crops, Sequence):
        raise IndexFormatError(f"extra_crops must be a sequence of numbers, got {extra_crops!r}")
    crops = []
    for crop in extra_crops:
        if isinstance(crop, bool) or not isinstance(crop, numbers.Real):
            raise IndexFormatError(f"extra crop fractions must be numbers, got {crop!r}")
        if not 0.0 < float(crop) <= 1.0:
            raise IndexFormatError(f"extra crop fraction must be in (0, 1], got {crop!r}")
        crops.append(float(crop))
    if len(set(crops)) != len(crops):
        raise IndexFormatError(f"extra crop fractions repeat: {list(extra_crops)!r}")
    return tuple(crops)


def _embed(
    embedder: EmbedderLike, files: list[Path], dim: int, crop: float | None = None
) -> np.ndarray:
    """``embedder.embed_batch`` of ``files`` (at ``crop`` when given), shape-checked."""
    if crop is None:
        embeddings = np.asarray(embedder.embed_batch(files))
    else:
        embeddings = np.asarray(embedder.embed_batch(files, crop_fraction=crop))
    if embeddings.shape != (len(files), dim):
        raise VectorError(
            f"{files[0]}: embedder returned shape {embeddings.shape} for "
            f"{len(files)} images, expected ({len(files)}, {dim})"
        )
    return embeddings
