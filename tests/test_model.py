"""The embedding network: mid-level pooling, feature widths, old checkpoints."""

import pytest
import torch
import torch.nn.functional as F

from trainer.checkpoint import save_atomic
from trainer.model import EmbeddingNet, ModelConfig, load_model, model_payload
from trainer.train_config import TrainConfig


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_forward_with_mid_matches_the_library_trunk(images):
    backbone = EmbeddingNet(ModelConfig(), pretrained=False).eval().backbone
    last_block_input = []
    handle = backbone.net._blocks[-1].register_forward_pre_hook(
        lambda _m, args: last_block_input.append(args[0])
    )
    with torch.no_grad():
        expected = backbone.net.extract_features(images).mean(dim=(2, 3))
        handle.remove()
        pooled, mid = backbone.forward_with_mid(images)
    assert torch.equal(pooled, expected)
    assert mid.shape == (2, 192)  # Lite0's penultimate block (end of the 192-ch stage)
    assert torch.equal(mid, last_block_input[0].mean(dim=(2, 3)))
    assert not backbone.net._blocks[-2]._forward_hooks  # the tap is removed after the call


def test_mid_features_concatenate_two_unit_parts(images):
    model = EmbeddingNet(ModelConfig(mid_features=True), pretrained=False).eval()
    assert model.feature_dim == 1280 + 192
    assert model.embed.in_features == model.feature_dim
    with torch.no_grad():
        feats, pooled = model.features(images)
    assert feats.shape == (2, 1472) and pooled.shape == (2, 1280)
    torch.testing.assert_close(feats[:, :1280], F.normalize(pooled, dim=1))
    torch.testing.assert_close(feats[:, :1280].norm(dim=1), torch.ones(2))
    torch.testing.assert_close(feats[:, 1280:].norm(dim=1), torch.ones(2))


def test_without_mid_features_the_projection_reads_the_pooled_head(images):
    model = EmbeddingNet(ModelConfig(mid_features=False), pretrained=False).eval()
    assert model.feature_dim == 1280
    with torch.no_grad():
        feats, pooled = model.features(images)
    assert torch.equal(feats, pooled)


def test_checkpoint_without_the_mid_features_key_loads_as_head_only_pooling(tmp_path, images):
    model = EmbeddingNet(ModelConfig(mid_features=False), pretrained=False).eval()
    payload = model_payload(model)
    del payload["model_config"]["mid_features"]  # as written before the option existed
    path = save_atomic(payload, tmp_path / "model.pt")
    loaded = load_model(path)
    assert loaded.config.mid_features is False
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images))


def test_train_config_from_an_old_run_keeps_head_only_pooling():
    old = TrainConfig(data="d", out="o").to_dict()
    del old["mid_features"]
    assert TrainConfig.from_dict(old).mid_features is False
    assert TrainConfig(data="d", out="o").mid_features is False  # the default since session 10


def test_input_size_sets_the_preprocessing_and_survives_a_checkpoint(tmp_path):
    model = EmbeddingNet(ModelConfig(input_size=288), pretrained=False).eval()
    assert model.preprocess.input_size == 288
    assert model.preprocess.crop_fraction == 0.875  # the backbone's crop rule is kept
    x = torch.randn(1, 3, 288, 288, generator=torch.Generator().manual_seed(1))
    path = save_atomic(model_payload(model), tmp_path / "model.pt")
    loaded = load_model(path)
    assert loaded.config.input_size == 288 and loaded.preprocess.input_size == 288
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_default_input_size_is_the_backbone_own():
    assert EmbeddingNet(ModelConfig(), pretrained=False).preprocess.input_size == 224


@pytest.mark.parametrize("size", [100, 16, 0])
def test_input_size_must_be_a_multiple_of_32(size):
    with pytest.raises(ValueError, match="multiple of 32"):
        ModelConfig(input_size=size)
    with pytest.raises(ValueError, match="multiple of 32"):
        TrainConfig(data="d", out="o", input_size=size)
