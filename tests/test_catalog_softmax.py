"""The catalog softmax loss: its value, its query/catalog masks, and a mixed batch."""

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import CatalogSoftmaxLoss


def _batch():
    # rows: catalog of products 0, 1, 2; photos of products 0 and 1
    emb = F.normalize(
        torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0.2, 0], [0.1, 1.0, 0.3]]),
        dim=1,
    )
    labels = torch.tensor([0, 1, 2, 0, 1])
    is_photo = torch.tensor([False, False, False, True, True])
    return emb, labels, is_photo


def _expected(emb, q, cats, pos, t):
    logits = torch.stack([emb[q] @ emb[c] for c in cats]) / t
    return float(torch.logsumexp(logits, 0) - logits[cats.index(pos)])


def test_value_is_cross_entropy_over_catalog_rows():
    emb, labels, is_photo = _batch()
    loss = CatalogSoftmaxLoss(temperature=0.1)(emb, labels, is_photo)
    want = (_expected(emb, 3, [0, 1, 2], 0, 0.1) + _expected(emb, 4, [0, 1, 2], 1, 0.1)) / 2
    assert float(loss) == pytest.approx(want, rel=1e-5)


def test_catalog_mask_removes_rows_from_the_softmax():
    emb, labels, is_photo = _batch()
    visible = torch.tensor([True, True, False, False, False])  # product 2's row hidden
    loss = CatalogSoftmaxLoss(temperature=0.1)(emb, labels, is_photo, visible)
    want = (_expected(emb, 3, [0, 1], 0, 0.1) + _expected(emb, 4, [0, 1], 1, 0.1)) / 2
    assert float(loss) == pytest.approx(want, rel=1e-5)


def test_margin_raises_the_loss_and_queries_without_a_positive_are_skipped():
    emb, labels, is_photo = _batch()
    plain = CatalogSoftmaxLoss(0.1)(emb, labels, is_photo)
    assert float(CatalogSoftmaxLoss(0.1, margin=0.2)(emb, labels, is_photo)) > float(plain)
    # only product 1's photo has its catalog row visible: product 0's photo is skipped
    visible = torch.tensor([False, True, True, False, False])
    loss = CatalogSoftmaxLoss(0.1)(emb, labels, is_photo, visible)
    assert float(loss) == pytest.approx(_expected(emb, 4, [1, 2], 1, 0.1), rel=1e-5)
    none = CatalogSoftmaxLoss(0.1)(emb, labels, torch.zeros(5, dtype=torch.bool))
    assert float(none) == 0.0


def test_gradient_pulls_the_photo_toward_its_catalog_image():
    emb, labels, is_photo = _batch()
    emb = emb.clone().requires_grad_(True)
    CatalogSoftmaxLoss(0.5)(emb, labels, is_photo).backward()
    # descending the gradient moves photo 3 toward catalog row 0
    step = emb[3] - 1e-3 * emb.grad[3]
    assert float(F.normalize(step, dim=0) @ emb[0]) > float(emb[3] @ emb[0])


def test_relaxation_zeroes_photos_already_matched_with_that_probability():
    emb, labels, is_photo = _batch()
    loss = CatalogSoftmaxLoss(temperature=0.1, relax_prob=0.9)
    per_photo = [_expected(emb, 3, [0, 1, 2], 0, 0.1), _expected(emb, 4, [0, 1, 2], 1, 0.1)]
    want = sum(max(0.0, v + math.log(0.9)) for v in per_photo) / 2
    assert float(loss(emb, labels, is_photo)) == pytest.approx(want, rel=1e-5)
    easy = CatalogSoftmaxLoss(temperature=0.01, relax_prob=0.5)  # both photos near certain
    assert float(easy(emb, labels, is_photo)) == 0.0


@pytest.mark.parametrize(
    "t, m, r",
    [
        (0.0, 0.0, 1.0),
        (-1.0, 0.0, 1.0),
        (0.1, 1.0, 1.0),
        (0.1, -0.1, 1.0),
        (0.1, 0.0, 0.0),
        (0.1, 0.0, 1.5),
    ],
)
def test_bad_settings_are_refused(t, m, r):
    with pytest.raises(ValueError):
        CatalogSoftmaxLoss(t, m, r)


def test_uniform_scores_give_log_of_catalog_size():
    emb = torch.zeros(4, 2)
    emb[:, 0] = 1.0  # every row identical: every logit equal
    loss = CatalogSoftmaxLoss(1.0)(
        emb, torch.tensor([0, 1, 2, 0]), torch.tensor([False, False, False, True])
    )
    assert float(loss) == pytest.approx(math.log(3))
