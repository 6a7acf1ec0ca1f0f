"""Pair losses (contrastive, robust contrastive) and the multitask distillation loss."""

from trainer.losses.contrastive import ContrastiveLoss
from trainer.losses.distillation import DistillationLoss
from trainer.losses.robust_contrastive import RobustContrastiveLoss

__all__ = ["ContrastiveLoss", "RobustContrastiveLoss", "DistillationLoss"]
