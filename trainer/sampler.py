"""Batch sampling: several products x several photos, plus their catalog images."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

CATALOG, PHOTO, SIMULATED = "catalog", "photo", "simulated"


@dataclass(frozen=True)
class SampleKey:
    """One image slot of a batch.

    ``kind`` is ``catalog`` (a clean catalog image), ``photo`` (a real phone photo)
    or ``simulated`` (a phone photo simulated from a catalog image); ``item``
    indexes the product's catalog or photo list; ``seed`` drives its augmentation.
    """

    product: int
    kind: str
    item: int
    seed: int


class ProductBatchSampler:
    """Yields batches of ``products_per_batch`` products, each with
    ``photos_per_product`` photo slots and one catalog image.

    A photo slot holds a simulated photo with probability ``simulated_fraction``,
    and always for a product without real photos (catalog-only training), unless
    ``skip_photoless`` leaves such products out of the batches altogether, or
    ``photoless_catalog_only`` draws them with their catalog image alone (no photo
    slots: the catalog-view term of ``trainer.losses.catalog_views`` trains them).
    Batches depend only on ``(seed, epoch, batch index, rank)``, so a resumed run
    sees exactly the batches an uninterrupted run would have seen.

    Args:
        photo_counts: number of real photos of each product.
        catalog_counts: number of catalog images of each product (each >= 1).
        products_per_batch: P, distinct products per batch (capped at the product count).
        photos_per_product: K, photo slots per product.
        simulated_fraction: probability that a photo slot is simulated.
        batches_per_epoch: default: enough batches to show every photo about once.
        seed: base seed.
        skip_photoless: draw only products that have real photos.
        photoless_catalog_only: products without real photos get no photo slots.
        rank, world_size: distributed training: each rank draws its own batches.
    """

    def __init__(
        self,
        photo_counts: Sequence[int],
        catalog_counts: Sequence[int],
        products_per_batch: int = 12,
        photos_per_product: int = 4,
        simulated_fraction: float = 0.25,
        batches_per_epoch: int | None = None,
        seed: int = 0,
        skip_photoless: bool = False,
        photoless_catalog_only: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        if len(photo_counts) != len(catalog_counts):
            raise ValueError("photo_counts and catalog_counts differ in length")
        if len(catalog_counts) < 2:
            raise ValueError("need at least 2 products to form negative pairs")
        if min(catalog_counts) < 1:
            raise ValueError("every product needs at least one catalog image")
        if products_per_batch < 2 or photos_per_product < 1:
            raise ValueError("need products_per_batch >= 2 and photos_per_product >= 1")
        if not 0.0 <= simulated_fraction <= 1.0:
            raise ValueError(f"simulated_fraction must be in [0, 1], got {simulated_fraction}")
        self.photo_counts = list(photo_counts)
        self.catalog_counts = list(catalog_counts)
        self.products = np.array(
            [p for p, n in enumerate(self.photo_counts) if n or not skip_photoless], dtype=int
        )
        if len(self.products) < 2:
            raise ValueError("skip_photoless: need at least 2 products with photos")
        self.P = min(products_per_batch, len(self.products))
        self.K = photos_per_product
        self.simulated_fraction = simulated_fraction
        self.photoless_catalog_only = photoless_catalog_only
        n_slots = max(sum(self.photo_counts), len(self.products) * self.K)
        self.batches_per_epoch = batches_per_epoch or math.ceil(
            n_slots / (self.P * self.K * world_size)
        )
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches ``__iter__`` yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[SampleKey]]:
        rng = np.random.default_rng([self.seed, self.epoch, self.rank])
        n = len(self.products)
        order = np.concatenate(
            [
                self.products[rng.permutation(n)]
                for _ in range(math.ceil(self.batches_per_epoch * self.P / n) + 1)
            ]
        )
        for b in range(self.batches_per_epoch):
            products = _distinct(order[b * self.P :], self.P)
            yield [key for p in products for key in self._slots(int(p), rng)]

    def _slots(self, p: int, rng: np.random.Generator) -> list[SampleKey]:
        # seed 0 is TrainingImages' clean catalog view (what the catalog memory embeds)
        seeds = rng.integers(1, 2**31, size=self.K + 1)
        keys = [SampleKey(p, CATALOG, int(rng.integers(self.catalog_counts[p])), int(seeds[0]))]
        n_photos = self.photo_counts[p]
        if n_photos == 0 and self.photoless_catalog_only:
            return keys
        real = rng.permutation(n_photos) if n_photos else np.array([], dtype=int)
        if 0 < n_photos < self.K:
            real = rng.choice(n_photos, size=self.K, replace=True)
        for k in range(self.K):
            if n_photos == 0 or rng.random() < self.simulated_fraction:
                item = int(rng.integers(self.catalog_counts[p]))
                keys.append(SampleKey(p, SIMULATED, item, int(seeds[k + 1])))
            else:
                keys.append(SampleKey(p, PHOTO, int(real[k]), int(seeds[k + 1])))
        return keys


def _distinct(stream: np.ndarray, count: int) -> list[int]:
    """The first ``count`` distinct values of ``stream``, in order."""
    seen: list[int] = []
    for v in stream:
        if int(v) not in seen:
            seen.append(int(v))
            if len(seen) == count:
                break
    return seen
