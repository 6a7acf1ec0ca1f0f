"""Every knob of a fine-tuning run, with the shipped defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from mobile_sdk.errors import DeepProductError

PAIR_LOSSES = ("robust", "contrastive", "softmax")  # softmax: trainer.losses.catalog_softmax
MULTITASK = ("distill", "aux", "none")
HEAD_INITS = ("probe", "centered")
NEGATIVE_MODES = ("hard", "semihard", "hard+semihard", "all")  # trainer.miners
PRECISIONS = ("auto", "bf16", "fp32")
# photo slots: "simulator" (augment_photo for real photos, mild catalog zoom for catalog
# images) or "crop-flip" (trainer.crop_flip_augment, the same for photos and catalog)
AUGMENTATIONS = ("simulator", "crop-flip")
# products with a catalog image and no photos: trained from simulated photos, left out
# of the batches (they stay in the catalog memory, as negatives, if that is on), or
# drawn with their catalog image alone, trained by the catalog-view term
# (trainer.losses.catalog_views), which every product's catalog image takes part in
CATALOG_ONLY = ("simulate", "skip", "catalog-views")


class TrainConfigError(DeepProductError, ValueError):
    """A training setting is invalid; the message names it and its allowed values."""


@dataclass
class TrainConfig:
    """A fine-tuning run. Stored in every checkpoint; ``--resume`` checks it matches."""

    data: str
    out: str
    val: str | None = None
    backbone: str = "efficientnet-lite0"
    embedding_dim: int = 256
    mid_features: bool = False  # also pool the penultimate block (ModelConfig.mid_features)
    # model input side; None: the backbone's (224 for Lite0). The default recipe trains
    # at 288: on the yardstick's GPU sweep (session 12) +0.9 / +4.3 / -0.5 points top-1
    # (seen / catalog-only / unseen) over 224, for 1.65x the multiply-adds
    input_size: int | None = 288
    head_init: str = "centered"  # "probe": linear probe on frozen features; "centered": random
    # The defaults are the recipe "plain+memory+catalog-views+288" of trainer/recipes.py,
    # chosen on the yardstick (benchmarks/yardstick.py; docs/training_experiments.md,
    # sessions 8-11): the softmax of each photo against every catalog image, crop/flip
    # augmentation, no simulator; the products without photos are trained from their
    # catalog image alone, as every product's catalog image is (the catalog-view term).
    # The old default (robust contrastive + distillation) is the recipe "robust+distill".
    epochs: int = 8
    products_per_batch: int = 16
    photos_per_product: int = 3
    simulated_fraction: float = 0.0
    photo_min_area: float = 0.6  # smallest area fraction of a real photo's random crop
    batches_per_epoch: int | None = None
    loss: str = "softmax"
    softmax_temperature: float = 0.05  # loss "softmax": cosine logits / this
    softmax_margin: float = 0.0  # loss "softmax": additive cosine margin on the positive
    # loss "softmax": photos whose own product has at least this probability cost
    # nothing (the robust loss's positive relaxation, for the softmax); 1: off
    softmax_relax: float = 1.0
    # loss "softmax": simulated photos are scored in a softmax of their own, and real
    # photos never against the catalog images of products without real photos, so
    # that "looks simulated" cannot become the label of the catalog-only products
    isolate_simulated: bool = True
    augment: str = "crop-flip"
    catalog_only: str = "catalog-views"
    # catalog_only "catalog-views": weight of the term that scores each batch catalog
    # image (augmented) against the clean views of every catalog image in the memory
    catalog_view_weight: float = 1.0
    pos_margin: float | None = None  # None: the loss class's default
    neg_margin: float = 1.0
    pos_cap: float | None = None
    neg_floor: float | None = None
    negatives: str = "hard+semihard"
    photo_photo: bool = False
    catalog_memory: bool = True  # negatives from every catalog image, not only the batch's
    memory_refresh: int = 20  # steps between re-embeddings of the catalog memory
    multitask: str = "none"
    aux_data: str | None = None
    aux_batch: int = 16
    mt_weight: float = 1.0
    temperature: float = 2.0
    lr: float = 2e-4
    head_lr_mult: float = 10.0
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1
    freeze_bn: bool = True
    trainable_blocks: int | None = None  # None: every layer trains (full fine-tuning)
    # Exponential moving average of the weights (0: off). The average is what each
    # epoch's validation scores and what model.pt ships; e.g. 0.99 averages about the
    # last 100 steps.
    ema_decay: float = 0.0
    # WiSE-FT: the shipped weights are init + wise_alpha x (fine-tuned - init); 1 = as trained
    wise_alpha: float = 1.0
    seed: int = 0
    num_workers: int = 0
    # Arithmetic of the training passes (weights, losses and evaluation stay float32).
    # "auto": bfloat16 autocast where the hardware has native bf16 (CUDA, or a CPU with
    # AVX-512 BF16 / AMX; about 1.4x the float32 speed on this 2-core machine), else fp32.
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.loss not in PAIR_LOSSES:
            raise TrainConfigError(f"loss must be one of {PAIR_LOSSES}, got {self.loss!r}")
        if self.multitask not in MULTITASK:
            raise TrainConfigError(f"multitask must be one of {MULTITASK}, got {self.multitask!r}")
        if self.multitask == "aux" and not self.aux_data:
            raise TrainConfigError("multitask 'aux' needs --aux-data DIR (one folder per class)")
        if self.augment not in AUGMENTATIONS:
            raise TrainConfigError(f"augment must be one of {AUGMENTATIONS}, got {self.augment!r}")
        if self.catalog_only not in CATALOG_ONLY:
            raise TrainConfigError(
                f"catalog_only must be one of {CATALOG_ONLY}, got {self.catalog_only!r}"
            )
        if self.catalog_only == "catalog-views" and not (
            self.loss == "softmax" and self.catalog_memory
        ):
            raise TrainConfigError(
                "catalog_only 'catalog-views' (the default) needs loss 'softmax' and the "
                "catalog memory; otherwise choose --catalog-only skip or simulate"
            )
        if self.catalog_view_weight < 0:
            raise TrainConfigError(
                f"catalog_view_weight must be >= 0, got {self.catalog_view_weight}"
            )
        if self.softmax_temperature <= 0:
            raise TrainConfigError(
                f"softmax_temperature must be positive, got {self.softmax_temperature}"
            )
        if not 0.0 < self.softmax_relax <= 1.0:
            raise TrainConfigError(f"softmax_relax must be in (0, 1], got {self.softmax_relax}")
        if not 0.0 <= self.softmax_margin < 1.0:
            raise TrainConfigError(f"softmax_margin must be in [0, 1), got {self.softmax_margin}")
        if self.negatives not in NEGATIVE_MODES:
            raise TrainConfigError(
                f"negatives must be one of {NEGATIVE_MODES}, got {self.negatives!r}"
            )
        if self.head_init not in HEAD_INITS:
            raise TrainConfigError(f"head_init must be one of {HEAD_INITS}, got {self.head_init!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise TrainConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.wise_alpha <= 1.0:
            raise TrainConfigError(f"wise_alpha must be in [0, 1], got {self.wise_alpha}")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.input_size is not None and (self.input_size < 32 or self.input_size % 32):
            raise TrainConfigError(f"input_size must be a multiple of 32, got {self.input_size}")
        if not 0.0 < self.photo_min_area <= 1.0:
            raise TrainConfigError(f"photo_min_area must be in (0, 1], got {self.photo_min_area}")
        if self.epochs < 1:
            raise TrainConfigError(f"epochs must be >= 1, got {self.epochs}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        # runs saved before mid_features existed trained without it
        return cls(**{"mid_features": False, **{k: v for k, v in d.items() if k in names}})

    # Fields that may change between a run and its --resume without changing results.
    # (wise_alpha only acts after the last epoch.)
    RESUMABLE_CHANGES = ("epochs", "num_workers", "val", "out", "wise_alpha")
