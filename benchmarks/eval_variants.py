"""Variants of a trained model that cost no training: scored beside it by the yardstick.

- ``wise<a>``: WiSE-FT, the weights ``start + a x (fine-tuned - start)`` (the start is
  the pretrained backbone and initial head kept in the run's ``checkpoint.pt``);
- ``flip-index``: each catalog image embedded as the mean of itself and its mirror
  image (index time only: a query costs the same);
- ``wise<a>+flip-index``: both.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from trainer.checkpoint import load_training_state
from trainer.model import load_model
from trainer.train import interpolate_weights

# weight sets scored beside the trained weights ("": as trained)
WEIGHTS = ("", "wise0.5", "wise0.7")
FLIP_INDEX = "flip-index"
VARIANTS = tuple(
    name for w in WEIGHTS for name in ((f"{w}+{FLIP_INDEX}" if w else FLIP_INDEX), w) if name
)


class FlipAveraged(nn.Module):
    """``model``'s embedding averaged with that of the mirrored input, re-normalised."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @property
    def preprocess(self):
        return self.model.preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model(x) + self.model(x.flip(3)), dim=1)


def wise_model(run: Path, alpha: float) -> nn.Module:
    """The run's model with WiSE-FT weights at ``alpha``.

    Raises:
        FileNotFoundError: the run has no ``checkpoint.pt`` with its starting weights.
    """
    state = load_training_state(run)
    if state is None or "init_state_dict" not in state:
        raise FileNotFoundError(f"{run}: no checkpoint.pt with the starting weights")
    model = load_model(run / "model.pt")
    tuned = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    model.load_state_dict(interpolate_weights(state["init_state_dict"], tuned, alpha))
    return model.eval()


def weights_model(run: Path, weights: str) -> nn.Module:
    """The run's model with weight set ``weights`` (one of ``WEIGHTS``)."""
    if weights == "":
        return load_model(run / "model.pt")
    if weights.startswith("wise"):
        return wise_model(run, float(weights[4:]))
    raise ValueError(f"unknown weight set {weights!r}; one of {', '.join(WEIGHTS)}")
