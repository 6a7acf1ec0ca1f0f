"""Retrieval metrics: rank catalog products per query photo by cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class RetrievalResult:
    """Top-k accuracy and mAP of a query set against a catalog; fractions in [0, 1]."""

    top1: float
    top5: float
    map: float
    queries: int
    products: int

    def to_dict(self) -> dict:
        """Plain dict, as written by ``deepproduct evaluate --json``."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a terminal."""
        return (
            f"top-1 {self.top1:.3f}  top-5 {self.top5:.3f}  mAP {self.map:.3f}  "
            f"({self.queries} queries, {self.products} products)"
        )


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("embedding with zero norm: cosine similarity is undefined")
    return x / norms


def product_scores(
    queries: np.ndarray, gallery: np.ndarray, gallery_ids: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Cosine score of every query against every product.

    A product with several catalog images scores the best of them.

    Args:
        queries: (Q, D) query embeddings.
        gallery: (G, D) catalog embeddings.
        gallery_ids: G product ids, one per gallery row.

    Returns:
        ``(scores, products)``: a (Q, P) array and the P distinct product ids (sorted).
    """
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"embedding shapes do not match: queries {queries.shape}, gallery {gallery.shape}"
        )
    if len(gallery_ids) != len(gallery):
        raise ValueError(f"{len(gallery_ids)} gallery ids for {len(gallery)} gallery rows")
    sims = _unit(queries) @ _unit(gallery).T
    products = sorted(set(gallery_ids))
    column = {pid: i for i, pid in enumerate(products)}
    cols = np.array([column[g] for g in gallery_ids])
    scores = np.full((len(queries), len(products)), -np.inf)
    for j in range(len(products)):
        scores[:, j] = sims[:, cols == j].max(axis=1)
    return scores, products


def retrieval_metrics(
    queries: np.ndarray,
    query_ids: Sequence[str],
    gallery: np.ndarray,
    gallery_ids: Sequence[str],
) -> RetrievalResult:
    """Top-1, top-5 and mAP of ranking catalog products for each query.

    Each query has exactly one relevant product, so its average precision is
    ``1 / rank`` of that product (rank 1 = best) and mAP is the mean over queries.
    Ties are broken against the right answer (a tie never counts as a hit).

    Raises:
        ValueError: a query's product is missing from the gallery, or shapes mismatch.
    """
    return score_metrics(*product_scores(queries, gallery, gallery_ids), query_ids)


def score_metrics(
    scores: np.ndarray, products: Sequence[str], query_ids: Sequence[str]
) -> RetrievalResult:
    """Top-1, top-5 and mAP from a (Q, P) score matrix whose columns are ``products``.

    The ranking rule of :func:`retrieval_metrics` (ties count against the right answer),
    for scores that are not one cosine per product, e.g. two scores added.

    Raises:
        ValueError: a query's product is not among ``products``.
    """
    column = {pid: i for i, pid in enumerate(products)}
    missing = sorted(set(query_ids) - set(column))
    if missing:
        raise ValueError(f"queries of products absent from the catalog: {missing[:5]}")
    truth = np.array([column[q] for q in query_ids])
    true_score = scores[np.arange(len(truth)), truth]
    # ties with other products count as ranked above the right answer
    rank = (scores >= true_score[:, None]).sum(axis=1)
    return RetrievalResult(
        top1=float(np.mean(rank <= 1)),
        top5=float(np.mean(rank <= 5)),
        map=float(np.mean(1.0 / rank)),
        queries=len(truth),
        products=len(products),
    )
