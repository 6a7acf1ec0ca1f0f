"""Training arithmetic: bfloat16 autocast only where the hardware computes it natively."""

import contextlib

import pytest
import torch

import trainer.train_setup as train_module
from trainer.train import training_autocast
from trainer.train_config import TrainConfig, TrainConfigError

CPU = torch.device("cpu")


def test_fp32_never_autocasts():
    assert isinstance(training_autocast("fp32", CPU), contextlib.nullcontext)


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_hardware(monkeypatch, native):
    monkeypatch.setattr(train_module, "_native_bf16", lambda device: native)
    ctx = training_autocast("auto", CPU)
    if native:
        assert isinstance(ctx, torch.autocast)
        with ctx:
            y = torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4))
        assert y.dtype == torch.bfloat16
    else:
        assert isinstance(ctx, contextlib.nullcontext)


def test_bf16_without_native_support_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(train_module, "_native_bf16", lambda device: False)
    with pytest.raises(TrainConfigError, match="no native bfloat16"):
        training_autocast("bf16", CPU)


def test_unknown_precision_is_rejected():
    with pytest.raises(TrainConfigError, match="precision must be one of"):
        TrainConfig(data="d", out="o", precision="fp8")
