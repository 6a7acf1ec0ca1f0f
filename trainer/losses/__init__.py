"""Pair losses (contrastive, robust contrastive), the catalog softmax and its catalog-view
term, and the multitask terms (distillation, auxiliary classification, none) added to them."""

from trainer.losses.catalog_softmax import CatalogSoftmaxLoss
from trainer.losses.catalog_views import catalog_view_loss
from trainer.losses.contrastive import ContrastiveLoss
from trainer.losses.distillation import DistillationLoss
from trainer.losses.multitask import AuxiliaryClassificationTerm, DistillationTerm, MultitaskTerm
from trainer.losses.robust_contrastive import RobustContrastiveLoss

__all__ = [
    "AuxiliaryClassificationTerm",
    "CatalogSoftmaxLoss",
    "ContrastiveLoss",
    "DistillationLoss",
    "DistillationTerm",
    "MultitaskTerm",
    "RobustContrastiveLoss",
    "catalog_view_loss",
]
