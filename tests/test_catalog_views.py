"""The catalog-view term: augmented catalog images told apart from the whole catalog."""

import pytest
import torch

from trainer.losses import CatalogSoftmaxLoss, catalog_view_loss


def test_catalog_view_loss_scores_each_catalog_view_against_the_whole_memory():
    memory = torch.eye(3)  # three products' clean catalog views
    views = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]], requires_grad=True)
    labels = torch.tensor([0, 2])
    loss = catalog_view_loss(
        CatalogSoftmaxLoss(temperature=1.0), views, labels, memory, torch.tensor([0, 1, 2])
    )
    s = views.detach() @ memory.T
    want = torch.logsumexp(s, 1) - s[torch.arange(2), labels]
    assert loss.item() == pytest.approx(want.mean().item(), rel=1e-6)
    loss.backward()  # the views get gradient, the memory does not need any
    assert views.grad is not None and views.grad.abs().sum() > 0
