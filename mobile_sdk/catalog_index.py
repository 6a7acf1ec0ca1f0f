"""A dataset's catalog folder -> a product index (one row per catalog image).

``ProductIndex.build`` is this; it lives apart from the in-memory index because it
knows the dataset layout and drives an embedder with a progress bar.
"""

from __future__ import annotations

import os
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
) -> ProductIndex:
    """Embed every catalog image of a dataset and index it: see ``ProductIndex.build``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise IndexFormatError(f"batch_size must be a positive int, got {batch_size!r}")
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
            embeddings = np.asarray(embedder.embed_batch([f for _, f in chunk]))
            if embeddings.shape != (len(chunk), index.dim):
                raise VectorError(
                    f"{chunk[0][1]}: embedder returned shape {embeddings.shape} for "
                    f"{len(chunk)} images, expected ({len(chunk)}, {index.dim})"
                )
            for (product_id, image), embedding in zip(chunk, embeddings, strict=True):
                try:
                    index.add(product_id, embedding)
                except VectorError as e:
                    raise VectorError(f"{image}: bad embedding ({e})") from None
            bar.update(len(chunk))
    return index
