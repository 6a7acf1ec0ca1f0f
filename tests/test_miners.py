"""Pair mining: which pairs a batch contributes."""

import math

import pytest
import torch

from trainer.miners import BatchPairMiner


def batch():
    # product 0: catalog c0 at 0 deg, photo p0 at 40 deg
    # product 1: catalog c1 at 20 deg (nearer to p0 than c0: a hard negative), photo p1 at 100
    # product 2: catalog c2 at 70 deg (semi-hard for p0), photo p2 at 180
    angles = [0, 40, 20, 100, 70, 180]
    a = torch.tensor(angles, dtype=torch.float32) * math.pi / 180
    emb = torch.stack([a.cos(), a.sin()], dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    is_photo = torch.tensor([False, True, False, True, False, True])
    return emb, labels, is_photo


def as_set(a, b):
    return set(zip(a.tolist(), b.tolist(), strict=True))


def test_positives_are_photo_catalog_pairs():
    p = BatchPairMiner(negatives="all")(*batch())
    assert as_set(p.pos_a, p.pos_b) == {(1, 0), (3, 2), (5, 4)}


def test_all_negatives_are_photo_to_other_catalog():
    p = BatchPairMiner(negatives="all")(*batch())
    assert as_set(p.neg_a, p.neg_b) == {(1, 2), (1, 4), (3, 0), (3, 4), (5, 0), (5, 2)}


def test_hard_negatives_nearer_than_positive_plus_nearest():
    p = BatchPairMiner(negatives="hard")(*batch())
    negs = as_set(p.neg_a, p.neg_b)
    # p0 (40 deg) is 40 deg from its catalog: c1 (20 deg away) and c2 (30) are both nearer
    assert {(1, 2), (1, 4)} <= negs
    # p1 (100 deg) is 80 deg from c1: c2 (30 deg away) is hard, c0 (100 deg away) is not
    assert (3, 4) in negs and (3, 0) not in negs
    # p2 (180 deg) is 110 deg from c2: nothing is nearer, so only its nearest negative, c1
    assert (5, 2) in negs and (5, 0) not in negs
    assert negs == {(1, 2), (1, 4), (3, 4), (5, 2)}


def test_semihard_band():
    miner = BatchPairMiner(negatives="semihard", semihard_margin=0.3)
    p = miner(*batch())
    negs = as_set(p.neg_a, p.neg_b)
    # p1 (100 deg): d_ap = d(80 deg) = 1.286; c0 at d(100 deg) = 1.532 is inside the band
    # [1.286, 1.586); c2 at d(30 deg) is hard, so not semi-hard
    # p2 (180 deg): d_ap = d(110 deg) = 1.638; c1 at d(160 deg) = 1.970 is past 1.938
    assert negs == {(3, 0)}
    wider = BatchPairMiner(negatives="semihard", semihard_margin=0.34)(*batch())
    assert as_set(wider.neg_a, wider.neg_b) == {(3, 0), (5, 2)}


def test_photo_photo_pairs_optional():
    p = BatchPairMiner(negatives="all", photo_photo=True)(*batch())
    pos = as_set(p.pos_a, p.pos_b)
    assert pos == {(1, 0), (3, 2), (5, 4)}  # one photo per product: no photo-photo positive
    negs = as_set(p.neg_a, p.neg_b)
    assert (1, 3) in negs and (3, 1) in negs


def test_photo_photo_positive_counted_once():
    emb = torch.nn.functional.normalize(
        torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    )
    labels = torch.tensor([0, 0, 0, 1])
    is_photo = torch.tensor([False, True, True, False])
    p = BatchPairMiner(negatives="all", photo_photo=True)(emb, labels, is_photo)
    assert as_set(p.pos_a, p.pos_b) == {(1, 0), (2, 0), (1, 2)}


def test_bad_mode_rejected():
    with pytest.raises(ValueError, match="negatives"):
        BatchPairMiner(negatives="easy")
