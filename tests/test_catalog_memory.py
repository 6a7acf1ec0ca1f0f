"""Catalog memory: negatives from products outside the batch."""

import torch
from torch import nn

from trainer.catalog_memory import CatalogMemory
from trainer.sampler import CATALOG, SampleKey


class FakeImages:
    """Four products; product 2 has two catalog images. Pixel value encodes the row."""

    def catalog_keys(self):
        return [SampleKey(p, CATALOG, i, 0) for p, n in enumerate([1, 1, 2, 1]) for i in range(n)]

    def __getitem__(self, key):
        return torch.full((3, 2, 2), float(key.product * 10 + key.item)), key.product, False


class MeanModel(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def test_memory_adds_only_products_outside_the_batch():
    memory = CatalogMemory(FakeImages(), refresh_every=5)
    memory.refresh(MeanModel(), torch.device("cpu"), step=0)
    assert memory.embeddings.shape == (5, 3)
    emb = torch.zeros(3, 3, requires_grad=True)
    labels = torch.tensor([2, 2, 0])
    is_photo = torch.tensor([False, True, True])
    e, lab, photo = memory.extend(emb, labels, is_photo)
    assert lab.tolist() == [2, 2, 0, 1, 3]
    assert photo.tolist() == [False, True, True, False, False]
    assert e[3:, 0].tolist() == [10.0, 30.0]
    e.sum().backward()  # gradient reaches the batch rows only
    assert emb.grad is not None


def test_refresh_only_when_due():
    memory = CatalogMemory(FakeImages(), refresh_every=5)
    memory.refresh(MeanModel(), torch.device("cpu"), step=0)
    first = memory.embeddings
    memory.refresh(MeanModel(), torch.device("cpu"), step=3)
    assert memory.embeddings is first
    memory.refresh(MeanModel(), torch.device("cpu"), step=5)
    assert memory.embeddings is not first
