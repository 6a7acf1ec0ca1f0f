"""Robust contrastive loss: the contrastive loss with its penalty relaxed on some pairs.

DeepProduct (Wang et al., TOMM 2018) relaxes the contrastive penalty on some
positive and negative pairs so that the network stops over-fitting the few
training products. The paper's exact formula is not available to us; these are
the relaxations, each a named parameter.
"""

from __future__ import annotations

import torch

from trainer.losses.contrastive import ContrastiveLoss


class RobustContrastiveLoss(ContrastiveLoss):
    """Contrastive loss with three relaxations.

    Per pair with distance ``d`` (unit embeddings, so ``d`` is in [0, 2]):

    - positive: ``min(relu(d - pos_margin), pos_cap - pos_margin)**2``
    - negative: ``0 if d < neg_floor else relu(neg_margin - d)**2``

    Args:
        pos_margin: the distance below which positive pairs cost nothing. A photo
            need not collapse onto its catalog image: it only has to be nearer to
            it than to other products. Leaving that slack is what keeps the
            embedding general instead of memorising training products.
        neg_margin: the distance beyond which negative pairs cost nothing.
        pos_cap: the distance beyond which a positive pair's loss stops growing
            (its gradient is zero there). Outlier positives (mislabelled or
            unrecognisable photos) cannot drag the embedding with a runaway gradient.
        neg_floor: the distance below which a negative pair is ignored. Pairs that
            close are near-duplicates or label noise (the same item filed under two
            ids), and pushing them apart teaches the network noise.

    The defaults were picked on a product-disjoint split of the grocery train set
    (see README, "Ablation"): a cap at 1.3 (cosine 0.155) leaves every positive
    of the pretrained network's initial embedding inside the growing part, so it
    only acts on pairs that stay far apart late in training; a floor at 0.1
    (cosine 0.995) only catches near-identical images.
    """

    def __init__(
        self,
        pos_margin: float = 0.2,
        neg_margin: float = 1.0,
        pos_cap: float = 1.3,
        neg_floor: float = 0.1,
    ):
        super().__init__(pos_margin=pos_margin, neg_margin=neg_margin)
        if not pos_margin < pos_cap <= 2.0:
            raise ValueError(f"need pos_margin < pos_cap <= 2, got {pos_margin}, {pos_cap}")
        if not 0.0 <= neg_floor < neg_margin:
            raise ValueError(f"need 0 <= neg_floor < neg_margin, got {neg_floor}, {neg_margin}")
        self.pos_cap = pos_cap
        self.neg_floor = neg_floor

    def positive_loss(self, d: torch.Tensor) -> torch.Tensor:
        return torch.relu(d - self.pos_margin).clamp(max=self.pos_cap - self.pos_margin).pow(2)

    def negative_loss(self, d: torch.Tensor) -> torch.Tensor:
        return torch.where(d < self.neg_floor, torch.zeros_like(d), super().negative_loss(d))
