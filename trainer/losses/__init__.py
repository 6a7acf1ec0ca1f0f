"""Pair losses (contrastive, robust contrastive), the catalog softmax and the multitask
distillation loss."""

from trainer.losses.catalog_softmax import CatalogSoftmaxLoss
from trainer.losses.contrastive import ContrastiveLoss
from trainer.losses.distillation import DistillationLoss
from trainer.losses.robust_contrastive import RobustContrastiveLoss

__all__ = ["CatalogSoftmaxLoss", "ContrastiveLoss", "RobustContrastiveLoss", "DistillationLoss"]
