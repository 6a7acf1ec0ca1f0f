"""Named training recipes: sets of TrainConfig settings compared in the yardstick.

A recipe is a dict of :class:`~trainer.train_config.TrainConfig` fields set on top of
its defaults (which are the recipe ``DEFAULT_RECIPE``). ``deepproduct train --recipe
NAME`` starts from one; explicit flags still override it. ``benchmarks/yardstick.py``
trains and scores each one.
"""

from __future__ import annotations

from trainer.train_config import TrainConfig, TrainConfigError

# The default before issue 17 (sessions 1-7): robust contrastive + distillation of the
# ImageNet predictions, mid-level pooling, a probe-initialised head, the simulator as
# augmentation and for the products without photos, 10 products x 2 photos, lr 3e-5.
ROBUST_DISTILL = dict(
    loss="robust",
    products_per_batch=10,
    photos_per_product=2,
    simulated_fraction=0.25,
    catalog_only="simulate",
    isolate_simulated=False,
    augment="simulator",
    catalog_memory=True,
    lr=3e-5,
    head_lr_mult=3.0,
    weight_decay=1e-4,
    warmup_fraction=0.05,
    freeze_bn=True,
    multitask="distill",
    mid_features=True,
    head_init="probe",
    epochs=6,
    input_size=None,
)

# The plain fine-tune of issue 17: in-batch softmax over the batch's catalog images,
# 16 products x 3 photos, AdamW 2e-4 (head x10), 10 % warm-up, crop/flip/brightness
# on both sides, frozen BN, no multitask, no mid-level features, no simulator, and
# the products without photos left out of training.
PLAIN = dict(
    loss="softmax",
    softmax_temperature=0.05,
    products_per_batch=16,
    photos_per_product=3,
    simulated_fraction=0.0,
    catalog_only="skip",
    isolate_simulated=False,
    augment="crop-flip",
    catalog_memory=False,
    lr=2e-4,
    head_lr_mult=10.0,
    weight_decay=1e-4,
    warmup_fraction=0.1,
    freeze_bn=True,
    multitask="none",
    mid_features=False,
    head_init="centered",
    epochs=8,
    input_size=None,  # the backbone's 224
)

# The recipe TrainConfig's defaults are (a test pins it).
DEFAULT_RECIPE = "plain+memory+catalog-views+288"

RECIPES: dict[str, dict] = {
    # the default before issue 17: robust contrastive + distillation, simulated
    # photos for the catalog-only products and in a quarter of the photo slots
    "robust+distill": ROBUST_DISTILL,
    "robust": {**ROBUST_DISTILL, "multitask": "none"},
    "contrastive": {**ROBUST_DISTILL, "loss": "contrastive", "multitask": "none"},
    "plain": PLAIN,
    # the plain fine-tune, catalog-only products trained from simulated photos as the
    # old default did (the shortcut the issue measured)
    "plain+sim": {**PLAIN, "catalog_only": "simulate", "simulated_fraction": 0.25},
    # simulated photos for every product, scored in their own softmax; real photos
    # never scored against the catalog images of products without photos
    "plain+sim-isolated": {
        **PLAIN,
        "catalog_only": "simulate",
        "simulated_fraction": 0.25,
        "isolate_simulated": True,
    },
    # the default of sessions 10-11: the softmax over every catalog image (a memory
    # refreshed every 20 steps) instead of the batch's 16; the products without photos
    # are left out of the batches and of the real photos' softmax
    "plain+memory": {**PLAIN, "catalog_memory": True, "isolate_simulated": True},
    # the default of session 11: every product trained, the catalog-only ones from
    # their catalog image alone (as issue 17 asks): each batch catalog image (augmented)
    # told apart from the clean views of all catalog images
    # (trainer.losses.catalog_views); real photos as in plain+memory, which it equals
    # on the yardstick
    "plain+memory+catalog-views": {
        **PLAIN,
        "catalog_memory": True,
        "isolate_simulated": True,
        "catalog_only": "catalog-views",
    },
    # the default since session 12: the same at input 288 (the GPU sweep of 9 runs a row:
    # +3.0 / +3.7 / +9.3 points top-1 over the plain fine-tune on seen / catalog-only /
    # unseen; 224 gave +2.1 / -0.6 / +9.7); 1.65x the multiply-adds of 224
    "plain+memory+catalog-views+288": {
        **PLAIN,
        "catalog_memory": True,
        "isolate_simulated": True,
        "catalog_only": "catalog-views",
        "input_size": 288,
    },
    # the paper's two ideas inside plain+memory: the relaxed positive penalty, and the
    # ImageNet predictions distilled from the frozen pretrained network
    "plain+memory+relax": {
        **PLAIN,
        "catalog_memory": True,
        "isolate_simulated": True,
        "softmax_relax": 0.9,
    },
    "plain+memory+distill": {
        **PLAIN,
        "catalog_memory": True,
        "isolate_simulated": True,
        "multitask": "distill",
    },
    # the paper's two ideas inside the plain fine-tune: the relaxed positive penalty
    # (photos already matched with probability 0.9 cost nothing), and the multitask
    # term (ImageNet predictions distilled from the frozen pretrained network)
    "plain+relax": {**PLAIN, "softmax_relax": 0.9},
    "plain+distill": {**PLAIN, "multitask": "distill"},
    "plain+mid": {**PLAIN, "mid_features": True},
    "plain+sim-isolated+memory": {
        **PLAIN,
        "catalog_only": "simulate",
        "simulated_fraction": 0.25,
        "isolate_simulated": True,
        "catalog_memory": True,
    },
}


def recipe_config(name: str, **fields) -> TrainConfig:
    """A TrainConfig of recipe ``name``, with ``fields`` (data, out, ...) on top.

    Raises:
        TrainConfigError: unknown recipe, or an invalid setting.
    """
    if name not in RECIPES:
        raise TrainConfigError(f"unknown recipe {name!r}; one of {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[name], **fields})
