"""Training recipes: each one is a valid TrainConfig; the plain fine-tune is as specified."""

import pytest

from trainer.recipes import DEFAULT_RECIPE, RECIPES, recipe_config
from trainer.train_config import TrainConfig, TrainConfigError


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_is_a_valid_config(name):
    cfg = recipe_config(name, data="d", out="o")
    assert isinstance(cfg, TrainConfig)
    assert all(getattr(cfg, k) == v for k, v in RECIPES[name].items())


def test_plain_fine_tune_matches_its_specification():
    cfg = recipe_config("plain", data="d", out="o")
    assert (cfg.loss, cfg.softmax_temperature) == ("softmax", 0.05)
    assert (cfg.products_per_batch, cfg.photos_per_product) == (16, 3)
    assert (cfg.lr, cfg.lr * cfg.head_lr_mult, cfg.weight_decay) == (2e-4, 2e-3, 1e-4)
    assert (cfg.warmup_fraction, cfg.freeze_bn, cfg.epochs) == (0.1, True, 8)
    assert (cfg.multitask, cfg.mid_features, cfg.simulated_fraction) == ("none", False, 0.0)
    assert (cfg.augment, cfg.catalog_only, cfg.catalog_memory) == ("crop-flip", "skip", False)


def test_fields_override_the_recipe_and_unknown_names_are_refused():
    assert recipe_config("plain", data="d", out="o", epochs=2).epochs == 2
    with pytest.raises(TrainConfigError, match="unknown recipe 'nope'"):
        recipe_config("nope", data="d", out="o")


def test_the_defaults_are_the_default_recipe():
    assert DEFAULT_RECIPE == "plain+memory+catalog-views+288"
    default, named = (
        TrainConfig(data="d", out="o"),
        recipe_config(DEFAULT_RECIPE, data="d", out="o"),
    )
    assert default.to_dict() == named.to_dict()
    assert (default.catalog_memory, default.isolate_simulated, default.catalog_only) == (
        True,
        True,
        "catalog-views",
    )
    assert default.input_size == 288
    # the plain fine-tune and the old default stay at the backbone's 224
    assert recipe_config("plain", data="d", out="o").input_size is None
    assert recipe_config("robust+distill", data="d", out="o").input_size is None


def test_the_old_default_stays_reproducible_as_robust_distill():
    cfg = recipe_config("robust+distill", data="d", out="o")
    assert (cfg.loss, cfg.multitask, cfg.mid_features, cfg.head_init) == (
        "robust",
        "distill",
        True,
        "probe",
    )
    assert (cfg.lr, cfg.head_lr_mult, cfg.warmup_fraction, cfg.epochs) == (3e-5, 3.0, 0.05, 6)
    assert (cfg.products_per_batch, cfg.photos_per_product) == (10, 2)
    assert (cfg.augment, cfg.catalog_only, cfg.simulated_fraction) == (
        "simulator",
        "simulate",
        0.25,
    )
    assert (cfg.catalog_memory, cfg.isolate_simulated) == (True, False)


def test_catalog_views_needs_the_softmax_and_the_memory():
    cfg = recipe_config("plain+memory+catalog-views", data="d", out="o")
    assert (cfg.catalog_only, cfg.catalog_memory, cfg.catalog_view_weight) == (
        "catalog-views",
        True,
        1.0,
    )
    with pytest.raises(TrainConfigError, match="catalog-views"):
        recipe_config("plain+memory+catalog-views", data="d", out="o", catalog_memory=False)
    with pytest.raises(TrainConfigError, match="catalog_view_weight"):
        TrainConfig(data="d", out="o", catalog_view_weight=-1.0)
