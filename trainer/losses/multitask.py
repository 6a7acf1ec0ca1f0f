"""The multitask term: what keeps the fine-tuned network's ImageNet knowledge.

The training loss is ``pair loss + mt_weight * term``. Every variant of the term has one
interface, :class:`MultitaskTerm`: given the network, the batch, the batch's ImageNet
logits and the step, the term's value. The trainer builds the one
``TrainConfig.multitask`` names (``distill``, ``aux`` or ``none``).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from trainer.losses.distillation import DistillationLoss


class MultitaskTerm:
    """``--multitask none``: no term (always 0). The base of the other variants."""

    def __call__(
        self,
        net: nn.Module,
        x: torch.Tensor,
        logits: torch.Tensor,
        step: int,
        autocast: contextlib.AbstractContextManager,
    ) -> torch.Tensor:
        """The term for one batch.

        Args:
            net: the network being trained (``net(x, with_logits=True)``).
            x: the batch's images, on the training device.
            logits: the network's ImageNet logits for ``x`` (float32).
            step: the global step (epoch * steps per epoch + step), for batch schedules.
            autocast: the training passes' autocast context.

        Returns:
            A scalar tensor.
        """
        return torch.zeros((), device=logits.device)


class DistillationTerm(MultitaskTerm):
    """``--multitask distill``: KL divergence of the student's ImageNet predictions from a
    frozen teacher's, on the training images themselves (no ImageNet images needed).

    Args:
        teacher: a frozen copy of the pretrained backbone (``classify(features)``).
        temperature: softening temperature of both distributions (see DistillationLoss).
    """

    def __init__(self, teacher: nn.Module, temperature: float) -> None:
        self.teacher = teacher
        self.loss = DistillationLoss(temperature)

    def __call__(self, net, x, logits, step, autocast) -> torch.Tensor:
        with torch.no_grad(), autocast:
            teacher_logits = self.teacher.classify(self.teacher(x)).float()
        return self.loss(logits, teacher_logits)


class AuxiliaryClassificationTerm(MultitaskTerm):
    """``--multitask aux``: cross-entropy on a batch of labelled auxiliary images (an
    ImageNet-style folder, one folder per class), drawn for each step.

    Args:
        aux: the auxiliary images (``trainer.auxiliary.AuxiliaryImages``).
        batch_size: images per auxiliary batch.
        preprocess: the model's preprocessing, applied to the auxiliary images.
        device: the training device.
    """

    def __init__(self, aux, batch_size: int, preprocess, device: torch.device) -> None:
        self.aux = aux
        self.batch_size = batch_size
        self.preprocess = preprocess
        self.device = device

    def __call__(self, net, x, logits, step, autocast) -> torch.Tensor:
        ax, ay = self.aux.batch(step, self.batch_size, self.preprocess)
        ax = ax.to(self.device).contiguous(memory_format=torch.channels_last)
        with autocast:
            _, aux_logits = net(ax, with_logits=True)
        return nn.functional.cross_entropy(aux_logits.float(), ay.to(self.device))
