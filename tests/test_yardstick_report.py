"""The yardstick's report: mean ± sd over folds per group, variants as their own rows."""

import argparse

import pytest

from benchmarks.yardstick import _override, report


def _scores(seen, cat, unseen, seen_val=None):
    groups = [("seen", seen), ("catalog-only", cat), ("unseen", unseen)]
    if seen_val is not None:
        groups.append(("seen-val", seen_val))
    return {g: {"top1": v, "top5": 1.0, "map": v, "queries": 10, "products": 71} for g, v in groups}


def test_report_rows_means_and_variants():
    rows = [
        {
            "recipe": "plain",
            "fold": 0,
            "train_seconds": 600,
            **_scores(0.8, 0.4, 0.5, seen_val=0.6),
            "variants": {"wise0.5": _scores(0.7, 0.5, 0.6)},
        },
        {
            "recipe": "plain",
            "fold": 1,
            "train_seconds": 660,
            **_scores(0.9, 0.6, 0.5, seen_val=0.7),
            "variants": {"wise0.5": _scores(0.7, 0.5, 0.6)},
        },
        {"recipe": "pretrained", "fold": 0, "train_seconds": 0, **_scores(0.3, 0.3, 0.3)},
    ]
    text = report(rows)
    plain = next(line for line in text.splitlines() if line.startswith("| plain |"))
    assert "| 0 1 | 0.850 ± 0.071 | 0.650 ± 0.071 | 0.500 ± 0.141 | 0.500 ± 0.000 |" in plain
    assert "0.800 / 0.600 / 0.400 / 0.500; 0.900 / 0.700 / 0.600 / 0.500" in plain
    assert plain.rstrip().endswith("| 10.5 |")
    # rows scored before the seen (val) group existed show a dash there
    assert "| plain @wise0.5 | 0 1 | 0.700 ± 0.000 | — | 0.500 ± 0.000 | 0.600 ± 0.000 |" in text
    assert "| pretrained | 0 | 0.300 | — | 0.300 | 0.300 |" in text


@pytest.mark.parametrize(
    "text, want",
    [
        ("epochs=4", ("epochs", 4)),
        ("lr=2e-4", ("lr", 2e-4)),
        ("augment=crop-flip", ("augment", "crop-flip")),
        ("mid-features=true", ("mid_features", True)),
        ("loss=triplet", ("loss", "triplet")),
    ],
)
def test_set_parses_typed_values(text, want):
    assert _override(text) == want


def test_set_without_equals_is_refused():
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        _override("epochs")
