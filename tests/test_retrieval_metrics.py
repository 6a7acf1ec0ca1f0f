"""Retrieval metrics against hand-computed rankings."""

import numpy as np
import pytest

from mobile_sdk.retrieval_metrics import retrieval_metrics, score_metrics


def test_hand_computed_ranks():
    gallery = np.eye(3)
    ids = ["a", "b", "c"]
    queries = np.array(
        [
            [1.0, 0.1, 0.0],  # a first: rank 1
            [0.9, 0.2, 0.0],  # truth b; a scores higher: rank 2
            [0.5, 0.4, 0.3],  # truth c: rank 3
        ]
    )
    r = retrieval_metrics(queries, ["a", "b", "c"], gallery, ids)
    assert r.top1 == pytest.approx(1 / 3)
    assert r.top5 == 1.0
    assert r.map == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert (r.queries, r.products) == (3, 3)


def test_product_with_two_catalog_images_scores_its_best():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    r = retrieval_metrics(np.array([[0.0, 1.0]]), ["a"], gallery, ["b", "a", "b"])
    assert r.top1 == 1.0 and r.products == 2


def test_tie_is_not_a_hit():
    r = retrieval_metrics(np.array([[1.0, 1.0]]), ["a"], np.eye(2), ["a", "b"])
    assert r.top1 == 0.0 and r.map == 0.5


def test_errors():
    with pytest.raises(ValueError, match="absent"):
        retrieval_metrics(np.eye(2), ["a", "z"], np.eye(2), ["a", "b"])
    with pytest.raises(ValueError, match="zero norm"):
        retrieval_metrics(np.zeros((1, 2)), ["a"], np.eye(2), ["a", "b"])
    with pytest.raises(ValueError, match="shapes"):
        retrieval_metrics(np.ones((1, 3)), ["a"], np.eye(2), ["a", "b"])


def test_score_metrics_ranks_a_given_score_matrix_by_the_same_rule():
    scores = np.array(
        [
            [0.9, 0.5, 0.1],  # truth a: rank 1
            [0.7, 0.7, 0.1],  # truth b, tied with a: counted as rank 2
            [0.2, 0.3, 0.1],  # truth c: rank 3
        ]
    )
    r = score_metrics(scores, ["a", "b", "c"], ["a", "b", "c"])
    assert r.top1 == pytest.approx(1 / 3)
    assert r.map == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    with pytest.raises(ValueError, match="absent"):
        score_metrics(scores, ["a", "b", "c"], ["a", "b", "z"])
