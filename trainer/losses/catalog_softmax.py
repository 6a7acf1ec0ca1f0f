"""Softmax over catalog images as class proxies (in-batch InfoNCE / normalised softmax).

Each photo is classified among the catalog images it is scored against (the
batch's, plus the catalog memory's when that is on), with cosine logits divided
by a temperature. This is the loss of the "plain fine-tune" recipe and of
NormFace / proxy-based metric learning with the catalog embeddings as proxies.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CatalogSoftmaxLoss(nn.Module):
    """Cross-entropy of each photo over the catalog rows of the batch.

    Per photo ``q`` with catalog rows ``c_j`` (unit vectors) and its own product's
    rows ``P``: ``-log(sum_{j in P} exp(s_j) / sum_j exp(s_j))`` with
    ``s_j = (q . c_j - margin [j in P]) / temperature``.

    Args:
        temperature: the softmax temperature (0.05: cosine logits x 20).
        margin: an additive cosine margin on the positive (CosFace); 0 is the plain
            normalised softmax.
        relax_prob: DeepProduct's relaxed positive penalty, for the softmax: a photo
            whose own product already has at least this probability costs nothing
            (its loss is ``relu(loss + log(relax_prob))``), so easy photos are not
            pulled further onto their catalog image. 1 (the default) is no relaxation.
    """

    def __init__(self, temperature: float = 0.05, margin: float = 0.0, relax_prob: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        if not 0.0 < relax_prob <= 1.0:
            raise ValueError(f"relax_prob must be in (0, 1], got {relax_prob}")
        self.temperature = temperature
        self.margin = margin
        self.relax_prob = relax_prob

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        is_query: torch.Tensor,
        is_catalog: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean loss over the queries that have a catalog row of their product.

        Args:
            embeddings: (N, D) unit embeddings of photos and catalog images.
            labels: (N,) product index of each row.
            is_query: (N,) True for the photos scored (the queries).
            is_catalog: (N,) True for the catalog rows they are scored against;
                default: every row that is not a query.
        """
        query = is_query.bool()
        catalog = ~query if is_catalog is None else is_catalog.bool() & ~query
        q, c = embeddings[query], embeddings[catalog]
        ql, cl = labels[query], labels[catalog]
        positive = ql[:, None] == cl[None, :]
        has_pos = positive.any(dim=1)
        if not has_pos.any():
            return embeddings.sum() * 0.0
        q, positive = q[has_pos], positive[has_pos]
        logits = (q @ c.T - self.margin * positive) / self.temperature
        log_all = torch.logsumexp(logits, dim=1)
        log_pos = torch.logsumexp(logits.masked_fill(~positive, float("-inf")), dim=1)
        loss = log_all - log_pos
        if self.relax_prob < 1.0:
            loss = torch.relu(loss + math.log(self.relax_prob))
        return loss.mean()
