"""Pair losses pinned with hand-computed values; each relaxation switches on where documented."""

import math

import pytest
import torch

from trainer.losses import ContrastiveLoss, DistillationLoss, RobustContrastiveLoss
from trainer.miners import Pairs


def unit_at(*angles_deg: float) -> torch.Tensor:
    """2-D unit vectors; two at angle difference a are 2*sin(a/2) apart."""
    a = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], dim=1).requires_grad_(True)


def dist_of(angle_deg: float) -> float:
    return 2 * math.sin(math.radians(angle_deg) / 2)


def pairs(pos=(), neg=()) -> Pairs:
    def idx(ps, k):
        return torch.tensor([p[k] for p in ps], dtype=torch.long)

    return Pairs(idx(pos, 0), idx(pos, 1), idx(neg, 0), idx(neg, 1))


def test_contrastive_hand_values():
    e = unit_at(0, 60, 30)  # d(0,1) = 1.0, d(0,2) = 0.5176
    loss = ContrastiveLoss(pos_margin=0.0, neg_margin=1.0)
    value = loss(e, pairs(pos=[(0, 1)], neg=[(0, 2)]))
    expected = 1.0**2 + (1.0 - dist_of(30)) ** 2
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_contrastive_averages_each_side_separately():
    e = unit_at(0, 60, 30, 90)
    loss = ContrastiveLoss(neg_margin=1.0)
    value = loss(e, pairs(pos=[(0, 1)], neg=[(0, 2), (0, 3)]))  # d(0,3)=1.414 > margin -> 0
    expected = 1.0 + ((1.0 - dist_of(30)) ** 2 + 0.0) / 2
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_negative_beyond_margin_costs_nothing():
    e = unit_at(0, 120)
    assert ContrastiveLoss(neg_margin=1.0)(e, pairs(neg=[(0, 1)])).item() == 0.0


def test_robust_positive_margin_relaxes_close_positives():
    e = unit_at(0, 5)  # d = 0.0872 < pos_margin 0.2
    robust = RobustContrastiveLoss(pos_margin=0.2)
    assert robust(e, pairs(pos=[(0, 1)])).item() == 0.0
    plain = ContrastiveLoss(pos_margin=0.0)
    assert plain(e, pairs(pos=[(0, 1)])).item() == pytest.approx(dist_of(5) ** 2, abs=1e-9)


def test_robust_positive_in_between_is_shifted_square():
    e = unit_at(0, 60)  # d = 1.0
    value = RobustContrastiveLoss(pos_margin=0.2, pos_cap=1.3)(e, pairs(pos=[(0, 1)]))
    assert value.item() == pytest.approx(0.8**2, abs=1e-9)


def test_robust_positive_cap_stops_growth_and_gradient():
    far = 2 * math.degrees(math.asin(0.9))  # d = 1.8 > cap 1.3
    e = unit_at(0, far)
    loss = RobustContrastiveLoss(pos_margin=0.2, pos_cap=1.3)
    value = loss(e, pairs(pos=[(0, 1)]))
    assert value.item() == pytest.approx((1.3 - 0.2) ** 2, abs=1e-9)
    value.backward()
    assert torch.all(e.grad == 0)
    # just under the cap the gradient is alive
    e2 = unit_at(0, 2 * math.degrees(math.asin(0.6)))  # d = 1.2
    loss(e2, pairs(pos=[(0, 1)])).backward()
    assert e2.grad.abs().sum() > 0


def test_robust_negative_floor_ignores_near_duplicates():
    e = unit_at(0, 3)  # d = 0.0524 < floor 0.1
    robust = RobustContrastiveLoss(neg_margin=1.0, neg_floor=0.1)
    assert robust(e, pairs(neg=[(0, 1)])).item() == 0.0
    assert ContrastiveLoss(neg_margin=1.0)(e, pairs(neg=[(0, 1)])).item() == pytest.approx(
        (1 - dist_of(3)) ** 2, abs=1e-9
    )
    e = unit_at(0, 30)  # above the floor: the usual hinge
    assert robust(e, pairs(neg=[(0, 1)])).item() == pytest.approx((1 - dist_of(30)) ** 2, abs=1e-9)


def test_robust_with_relaxations_off_equals_contrastive():
    e = unit_at(0, 10, 50, 100, 170)
    p = pairs(pos=[(0, 1), (0, 4)], neg=[(1, 2), (2, 3), (0, 1)])
    robust = RobustContrastiveLoss(pos_margin=0.0, pos_cap=2.0, neg_floor=0.0, neg_margin=1.2)
    plain = ContrastiveLoss(pos_margin=0.0, neg_margin=1.2)
    assert robust(e, p).item() == pytest.approx(plain(e, p).item(), abs=1e-12)


def test_empty_pairs_give_zero_with_gradient_graph():
    e = unit_at(0, 10)
    value = RobustContrastiveLoss()(e, pairs())
    assert value.item() == 0.0
    value.backward()


@pytest.mark.parametrize(
    "kwargs",
    [dict(pos_margin=0.5, pos_cap=0.4), dict(neg_floor=1.5), dict(pos_margin=-0.1)],
)
def test_invalid_margins_rejected(kwargs):
    with pytest.raises(ValueError):
        RobustContrastiveLoss(**kwargs)


def test_distillation_zero_for_identical_logits_and_hand_value():
    t = torch.tensor([[2.0, 0.0, -1.0]])
    assert DistillationLoss(2.0)(t.clone(), t).item() == pytest.approx(0.0, abs=1e-7)
    s = torch.tensor([[0.0, 0.0, 0.0]])
    p = torch.softmax(t / 2, dim=1)
    kl = (p * (p.log() - math.log(1 / 3))).sum().item()
    assert DistillationLoss(2.0)(s, t).item() == pytest.approx(4 * kl, rel=1e-5)
