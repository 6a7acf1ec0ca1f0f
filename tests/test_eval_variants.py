"""No-training variants scored by the yardstick: test-time flip and WiSE-FT weights."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.eval_variants import VARIANTS, FlipAveraged, weights_model, wise_model


class _Toy(nn.Module):
    preprocess = "toy-config"

    def forward(self, x):
        return F.normalize(x.mean(dim=(1, 2)), dim=1)  # (N, W): depends on left/right order


def test_flip_average_is_mirror_invariant_and_unit_length():
    x = torch.rand(3, 3, 4, 5)
    flip = FlipAveraged(_Toy())
    a, b = flip(x), flip(x.flip(3))
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(a.norm(dim=1), torch.ones(3), atol=1e-6)
    assert flip.preprocess == "toy-config"


def test_missing_run_files_and_unknown_variants_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint.pt"):
        wise_model(tmp_path, 0.5)
    with pytest.raises(FileNotFoundError, match="no checkpoint.pt"):
        weights_model(tmp_path, "wise0.5")
    with pytest.raises(ValueError, match="unknown weight set"):
        weights_model(tmp_path, "soup")


def test_variant_names():
    assert VARIANTS == (
        "flip-index",
        "wise0.5+flip-index",
        "wise0.5",
        "wise0.7+flip-index",
        "wise0.7",
    )
