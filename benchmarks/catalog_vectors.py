"""Seeded catalog vectors shaped like photo embeddings, for the server tests and benchmark.

I.i.d. Gaussian vectors in 256-d are almost orthogonal: every product but the true one
scores near 0, so "the ten nearest products" is a near-tie and recall@10 of an
approximate index says nothing. These rows have the structure photo embeddings have:
categories of similar products, several photos per product.
"""

from __future__ import annotations

import numpy as np


def clustered(
    products: int,
    rows_per_product: int,
    dim: int,
    seed: int,
    spread: float = 0.35,
    products_per_category: int = 50,
) -> tuple[list[str], np.ndarray]:
    """Catalog rows shaped like photo embeddings: categories, products, photos.

    Products of one category (``products_per_category`` of them) lie around a random
    category centre, so that a query's ten nearest products are its category's, with
    distinct scores, not a near-tie among unrelated ones (i.i.d. vectors in 256-d are
    almost orthogonal, which makes recall@10 meaningless). Each product's rows are its
    centre plus noise of ``spread`` (relative to the unit centre), normalised, like
    several photos of one item. Returns the row ids (``p<n>``, a product's rows adjacent)
    and the (N, dim) float32 rows.
    """
    rng = np.random.default_rng(seed)
    categories = max(1, products // products_per_category)
    centres = rng.standard_normal((categories, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    items = centres[rng.integers(0, categories, products)]
    items += rng.standard_normal(items.shape).astype(np.float32) * (0.8 / np.sqrt(dim))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    rows = np.repeat(items, rows_per_product, axis=0)
    rows += rng.standard_normal(rows.shape).astype(np.float32) * (spread / np.sqrt(dim))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    ids = [f"p{i // rows_per_product}" for i in range(len(rows))]
    return ids, rows


def photo_queries(rows: np.ndarray, count: int, seed: int, spread: float = 0.5) -> np.ndarray:
    """Queries near catalog rows (a new photo of a catalog product), float32."""
    rng = np.random.default_rng(seed)
    picked = rows[rng.choice(len(rows), count, replace=False)]
    noise = rng.standard_normal(picked.shape).astype(np.float32) * (spread / np.sqrt(rows.shape[1]))
    return (picked + noise).astype(np.float32)
