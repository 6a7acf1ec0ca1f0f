"""WiSE-FT weight interpolation: hand-computed values and its errors."""

import pytest
import torch

from trainer.train import interpolate_weights
from trainer.train_config import TrainConfig, TrainConfigError


def test_interpolates_float_tensors_and_keeps_counters():
    init = {"w": torch.tensor([0.0, 2.0, -4.0]), "n": torch.tensor(1)}
    tuned = {"w": torch.tensor([4.0, 2.0, 4.0]), "n": torch.tensor(7)}
    out = interpolate_weights(init, tuned, 0.25)
    assert torch.equal(out["w"], torch.tensor([1.0, 2.0, -2.0]))
    assert out["n"].item() == 7  # BatchNorm batch counters are not averaged
    assert torch.equal(interpolate_weights(init, tuned, 1.0)["w"], tuned["w"])
    assert torch.equal(interpolate_weights(init, tuned, 0.0)["w"], init["w"])


def test_mismatched_state_dicts_are_refused():
    with pytest.raises(ValueError, match="keys"):
        interpolate_weights({"a": torch.zeros(2)}, {"b": torch.zeros(2)}, 0.5)
    with pytest.raises(ValueError, match="w: shapes differ"):
        interpolate_weights({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, 0.5)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval_is_a_config_error(alpha):
    with pytest.raises(TrainConfigError, match="wise_alpha must be in"):
        TrainConfig(data="d", out="o", wise_alpha=alpha)
