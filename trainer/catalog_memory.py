"""Catalog memory: every catalog image's embedding, as extra negatives for each batch.

A batch holds a dozen products, but search ranks a photo against the whole
catalog. Keeping the embeddings of all catalog images (refreshed every few
steps, without gradient) lets each photo be pushed away from the nearest *other*
products of the entire catalog, not only from those that happen to share its batch.
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.training_images import TrainingImages


class CatalogMemory:
    """Detached catalog embeddings, one row per catalog image.

    Args:
        images: the training images (their catalog keys define the rows).
        refresh_every: re-embed the whole catalog every this many steps.
    """

    def __init__(self, images: TrainingImages, refresh_every: int = 20):
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1, got {refresh_every}")
        self.images = images
        self.keys = images.catalog_keys()
        self.labels = torch.tensor([k.product for k in self.keys])
        self.refresh_every = refresh_every
        self.embeddings: torch.Tensor | None = None

    @torch.no_grad()
    def refresh(self, model: nn.Module, device: torch.device, step: int) -> None:
        """Re-embed the catalog if ``step`` is due (eval mode: no BN updates, no drop-connect)."""
        if self.embeddings is not None and step % self.refresh_every:
            return
        was_training = model.training
        model.eval()
        x = torch.stack([self.images[k][0] for k in self.keys]).to(device)
        x = x.contiguous(memory_format=torch.channels_last)
        self.embeddings = torch.cat([model(chunk) for chunk in x.split(64)]).float()
        model.train(was_training)

    def extend(
        self, embeddings: torch.Tensor, labels: torch.Tensor, is_photo: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Append the memory rows of products *not* in the batch (as catalog images).

        Products in the batch are left out: their fresh catalog embeddings are there
        already, with gradient.
        """
        assert self.embeddings is not None, "refresh() first"
        in_batch = torch.isin(self.labels.to(labels.device), labels)
        extra = self.embeddings.to(embeddings.device)[~in_batch]
        return (
            torch.cat([embeddings, extra.to(embeddings.dtype)]),
            torch.cat([labels, self.labels.to(labels.device)[~in_batch]]),
            torch.cat(
                [is_photo, torch.zeros(len(extra), dtype=torch.bool, device=is_photo.device)]
            ),
        )
