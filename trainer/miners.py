"""Pair mining: which (positive, negative) pairs of a batch the pair loss sees.

Kept apart from the losses (as in pytorch-metric-learning) so that any loss can
be combined with any selection rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer.train_config import NEGATIVE_MODES


@dataclass(frozen=True)
class Pairs:
    """Index pairs into a batch: positives ``(pos_a[k], pos_b[k])``, negatives likewise."""

    pos_a: torch.Tensor
    pos_b: torch.Tensor
    neg_a: torch.Tensor
    neg_b: torch.Tensor

    @property
    def counts(self) -> tuple[int, int]:
        """(number of positive pairs, number of negative pairs)."""
        return int(self.pos_a.numel()), int(self.neg_a.numel())


class BatchPairMiner:
    """Select pairs within a batch of photos and catalog images.

    Anchors are the photos. Positives are always (photo, catalog image of the same
    product), and optionally (photo, photo of the same product). Negatives are
    (photo, image of another product), chosen per anchor relative to ``d_ap``, the
    distance from the anchor to its farthest catalog positive:

    - ``hard``: negatives nearer than ``d_ap`` (ranked above the right product),
      plus the single nearest negative of each anchor;
    - ``semihard``: negatives with ``d_ap <= d < d_ap + semihard_margin``;
    - ``hard+semihard``: both (the default);
    - ``all``: every negative pair.

    Args:
        negatives: one of ``NEGATIVE_MODES``.
        semihard_margin: width of the semi-hard band above ``d_ap``.
        photo_photo: also pair photos with photos (positives and negatives).
    """

    def __init__(
        self,
        negatives: str = "hard+semihard",
        semihard_margin: float = 0.3,
        photo_photo: bool = False,
    ):
        if negatives not in NEGATIVE_MODES:
            raise ValueError(f"negatives must be one of {NEGATIVE_MODES}, got {negatives!r}")
        if semihard_margin < 0:
            raise ValueError(f"semihard_margin must be >= 0, got {semihard_margin}")
        self.negatives = negatives
        self.semihard_margin = semihard_margin
        self.photo_photo = photo_photo

    @torch.no_grad()
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor, is_photo: torch.Tensor
    ) -> Pairs:
        """Mine pairs.

        Args:
            embeddings: (N, D) unit embeddings.
            labels: (N,) product index of each row.
            is_photo: (N,) bool, True for photos, False for catalog images.
        """
        n = len(labels)
        dist = torch.cdist(embeddings.float(), embeddings.float())
        same = labels[:, None] == labels[None, :]
        photo = is_photo.bool()
        anchor = photo[:, None].expand(n, n)
        other_is_catalog = (~photo)[None, :].expand(n, n)
        not_self = ~torch.eye(n, dtype=torch.bool, device=labels.device)
        partner = (
            other_is_catalog | (photo[None, :] & not_self) if self.photo_photo else other_is_catalog
        )
        pos = anchor & same & partner
        if self.photo_photo:
            # each photo-photo positive once
            pos = pos & (other_is_catalog | torch.ones_like(pos).triu(1))
        neg_candidates = anchor & ~same & partner

        catalog_pos = anchor & same & other_is_catalog
        d_ap = torch.where(catalog_pos, dist, torch.zeros_like(dist)).amax(dim=1, keepdim=True)
        if self.negatives == "all":
            neg = neg_candidates
        else:
            neg = torch.zeros_like(neg_candidates)
            if "hard" in self.negatives.split("+"):
                neg |= neg_candidates & (dist < d_ap)
                masked = torch.where(neg_candidates, dist, torch.full_like(dist, float("inf")))
                nearest = masked.argmin(dim=1)
                has = neg_candidates.any(dim=1)
                neg[has.nonzero().squeeze(1), nearest[has]] = True
            if "semihard" in self.negatives.split("+"):
                neg |= neg_candidates & (dist >= d_ap) & (dist < d_ap + self.semihard_margin)
        pa, pb = pos.nonzero(as_tuple=True)
        na, nb = neg.nonzero(as_tuple=True)
        return Pairs(pa, pb, na, nb)
