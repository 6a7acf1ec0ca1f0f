"""Catalog-view term: every catalog image told apart from the whole catalog.

The products without photos (catalog-only) have nothing but their catalog image. Training
them from simulated photos taught the network that "looks simulated" means "one of the
catalog-only products" (issue 17), so here they are trained only in a way every product
is trained alike: the batch's catalog images (augmented: crops, flips, brightness) are
queries, scored by :class:`~trainer.losses.CatalogSoftmaxLoss` against the clean views of
*every* catalog image in the catalog memory (detached, refreshed every few steps). No
query type belongs to one group of products, so none can become a label.
"""

from __future__ import annotations

import torch

from trainer.losses.catalog_softmax import CatalogSoftmaxLoss


def catalog_view_loss(
    loss: CatalogSoftmaxLoss,
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    memory_embeddings: torch.Tensor,
    memory_labels: torch.Tensor,
) -> torch.Tensor:
    """Mean softmax loss of each augmented catalog view over the memory's catalog rows.

    Args:
        loss: the catalog softmax (its temperature, margin and relaxation apply).
        embeddings: (N, D) unit embeddings of the batch's catalog images (with gradient).
        labels: (N,) their product index.
        memory_embeddings: (M, D) the clean catalog views of every catalog image.
        memory_labels: (M,) their product index.
    """
    rows = torch.cat([embeddings, memory_embeddings.to(embeddings)])
    row_labels = torch.cat([labels, memory_labels.to(labels.device)])
    is_query = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
    is_query[: len(embeddings)] = True
    return loss(rows, row_labels, is_query)
