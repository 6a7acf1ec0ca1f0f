"""Multitask term without ImageNet images: distil the frozen pretrained classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DistillationLoss(nn.Module):
    """KL divergence between softened teacher and student ImageNet predictions.

    ``T**2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the
    batch (Hinton et al. 2015). Keeping the student's 1000-way predictions close
    to the frozen pretrained network's, on the training images, keeps the
    general visual knowledge the pair loss would otherwise erode.

    Args:
        temperature: softening ``T``; higher transfers more of the teacher's
            ranking of unlikely classes.
    """

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        log_p_student = F.log_softmax(student_logits / t, dim=1)
        log_p_teacher = F.log_softmax(teacher_logits / t, dim=1)
        kl = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
        return kl * t * t
