"""The product-search network: backbone -> linear -> D dims -> L2 normalisation.

The model keeps the backbone's ImageNet classifier for the multitask loss, and
carries its preprocessing configuration so that checkpoints are self-describing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mobile_sdk.errors import DeepProductError
from mobile_sdk.preprocess_config import PreprocessConfig
from trainer.backbone import Backbone, get_spec

CHECKPOINT_FORMAT = "deepproduct-checkpoint/1"


class CheckpointError(DeepProductError, ValueError):
    """A checkpoint file is missing, corrupt or not a DeepProduct checkpoint."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an :class:`EmbeddingNet`; stored in every checkpoint."""

    backbone: str = "efficientnet-lite0"
    embedding_dim: int = 256
    num_classes: int = 1000  # classifier of the multitask term; 1000 = the ImageNet head
    # Also pool the penultimate block (mid-level texture and shape) and concatenate it,
    # each part L2-normalised, before the projection. Frozen-feature probe on grocery
    # val, 3 seeds: 0.803 with the head features alone, 0.833 with this (see
    # docs/training_experiments.md).
    mid_features: bool = True
    # Side of the square model input; None: the backbone's own (224 for Lite0). Any
    # multiple of 32 gives the same "same" padding as the pretrained size, so the
    # ImageNet weights apply unchanged; the crop rule and normalisation stay the
    # backbone's.
    input_size: int | None = None

    def __post_init__(self) -> None:
        if self.input_size is not None and (self.input_size < 32 or self.input_size % 32):
            raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")

    def to_dict(self) -> dict:
        return {
            "backbone": self.backbone,
            "embedding_dim": self.embedding_dim,
            "num_classes": self.num_classes,
            "mid_features": self.mid_features,
            "input_size": self.input_size,
        }


class EmbeddingNet(nn.Module):
    """Image batch (N,3,S,S), normalised per ``preprocess`` -> unit embeddings (N, D)."""

    def __init__(self, config: ModelConfig = ModelConfig(), pretrained: bool = True):
        super().__init__()
        if config.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {config.embedding_dim}")
        self.config = config
        self.backbone = Backbone(
            get_spec(config.backbone), pretrained=pretrained, input_size=config.input_size
        )
        self.embed = nn.Linear(self.feature_dim, config.embedding_dim)
        if config.num_classes != 1000:
            # an --aux-data folder with its own classes gets a fresh classifier
            self.backbone.net._fc = nn.Linear(self.backbone.spec.feature_dim, config.num_classes)

    @property
    def preprocess(self) -> PreprocessConfig:
        """Input size, crop rule and normalisation this model expects."""
        return self.backbone.preprocess

    @property
    def feature_dim(self) -> int:
        """Width of the features the embedding projection reads."""
        extra = self.backbone.mid_dim if self.config.mid_features else 0
        return self.backbone.spec.feature_dim + extra

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(what the projection reads (N, feature_dim), pooled head features for the
        classifier). Without ``mid_features`` both are the pooled head features."""
        if not self.config.mid_features:
            pooled = self.backbone(x)
            return pooled, pooled
        pooled, mid = self.backbone.forward_with_mid(x)
        return torch.cat([F.normalize(pooled, dim=1), F.normalize(mid, dim=1)], dim=1), pooled

    def forward(
        self, x: torch.Tensor, normalize: bool = True, with_logits: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Embeddings (unit length unless ``normalize=False``); with ``with_logits``
        also the classifier logits from the same backbone pass (for the multitask loss)."""
        feats, pooled = self.features(x)
        e = self.embed(feats)
        e = F.normalize(e, dim=1) if normalize else e
        return (e, self.backbone.classify(pooled)) if with_logits else e


class PretrainedFeatures(nn.Module):
    """The un-tuned baseline: L2-normalised pooled ImageNet features."""

    def __init__(self, backbone: str = "efficientnet-lite0"):
        super().__init__()
        self.backbone = Backbone(get_spec(backbone), pretrained=True)

    @property
    def preprocess(self) -> PreprocessConfig:
        return self.backbone.preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x), dim=1)


def model_payload(model: EmbeddingNet) -> dict:
    """What a checkpoint stores about the model: architecture, preprocessing, weights."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.config.to_dict(),
        "preprocess": model.preprocess.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def load_checkpoint_file(path: str | os.PathLike) -> dict:
    """Read a checkpoint dict safely (tensors and plain containers only).

    Raises:
        CheckpointError: missing, unreadable, or not a DeepProduct checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a DeepProduct checkpoint ({CHECKPOINT_FORMAT})")
    return payload


def load_model(path: str | os.PathLike) -> EmbeddingNet:
    """Rebuild an :class:`EmbeddingNet` from a checkpoint (no pretrained file needed).

    Raises:
        CheckpointError: the file is not a valid checkpoint or its weights do not fit.
    """
    payload = load_checkpoint_file(path)
    try:
        # checkpoints written before mid_features existed pooled the head alone
        config = ModelConfig(**{"mid_features": False, **payload["model_config"]})
        model = EmbeddingNet(config, pretrained=False)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint does not match its architecture: {e}") from None
    if PreprocessConfig.from_dict(payload["preprocess"]) != model.preprocess:
        raise CheckpointError(f"{path}: preprocessing in checkpoint differs from its backbone")
    return model.eval()
