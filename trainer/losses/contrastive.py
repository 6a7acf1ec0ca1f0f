"""Contrastive loss (Hadsell, Chopra, LeCun 2006) on mined pairs of unit embeddings."""

from __future__ import annotations

import torch
from torch import nn

from trainer.miners import Pairs


def pair_distances(embeddings: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between rows ``i`` and ``j`` (in [0, 2] for unit vectors).

    The small epsilon keeps the square root's gradient finite for identical rows.
    """
    diff = embeddings[i] - embeddings[j]
    return (diff.pow(2).sum(dim=1) + 1e-12).sqrt()


def _mean(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x.mean() if x.numel() else like.sum() * 0.0


class ContrastiveLoss(nn.Module):
    """Pull positive pairs together, push negative pairs beyond a margin.

    Per pair with distance ``d``: positive ``relu(d - pos_margin)**2``, negative
    ``relu(neg_margin - d)**2``. The loss is the mean over positive pairs plus the
    mean over negative pairs (each side averaged on its own, so that the many
    negatives of a batch do not drown the few positives).

    Args:
        pos_margin: the distance below which positive pairs cost nothing. The
            classic loss uses 0: every positive pair is pulled to a point.
        neg_margin: the distance beyond which negative pairs cost nothing.
    """

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0):
        super().__init__()
        if not 0.0 <= pos_margin < neg_margin <= 2.0:
            raise ValueError(
                f"need 0 <= pos_margin < neg_margin <= 2, got {pos_margin}, {neg_margin}"
            )
        self.pos_margin = pos_margin
        self.neg_margin = neg_margin

    def positive_loss(self, d: torch.Tensor) -> torch.Tensor:
        """Loss of each positive pair at distance ``d``."""
        return torch.relu(d - self.pos_margin).pow(2)

    def negative_loss(self, d: torch.Tensor) -> torch.Tensor:
        """Loss of each negative pair at distance ``d``."""
        return torch.relu(self.neg_margin - d).pow(2)

    def forward(self, embeddings: torch.Tensor, pairs: Pairs) -> torch.Tensor:
        d_pos = pair_distances(embeddings, pairs.pos_a, pairs.pos_b)
        d_neg = pair_distances(embeddings, pairs.neg_a, pairs.neg_b)
        return _mean(self.positive_loss(d_pos), embeddings) + _mean(
            self.negative_loss(d_neg), embeddings
        )
