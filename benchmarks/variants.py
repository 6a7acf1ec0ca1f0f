"""The model variants a benchmark compares (exported files, checkpoints, ``pretrained``) and
how each one is run on one preprocessed photo."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobile_sdk.errors import DeepProductError

PRETRAINED = "pretrained"


# Canonical order of the exported files (the shipped model first).
DIST_ORDER = (
    "model.tflite",
    "model_fp16.tflite",
    "model_fp32.tflite",
    "model_int8.onnx",
    "model.onnx",
)


class LatencyError(DeepProductError):
    """A model cannot be benchmarked (missing file, unknown format, missing runtime)."""


@dataclass(frozen=True)
class ModelVariant:
    """One model to time.

    Attributes:
        spec: the file path, or ``"pretrained"`` for the un-tuned ImageNet features.
        name: the label in reports (the file name, or ``pretrained``).
        runtime: ``LiteRT``, ``onnxruntime`` or ``PyTorch eager``.
        precision: ``fp32``, ``fp16`` or ``int8``.
    """

    spec: str
    name: str
    runtime: str
    precision: str

    @property
    def is_torch(self) -> bool:
        return self.runtime == "PyTorch eager"


def model_variant(spec: str | os.PathLike) -> ModelVariant:
    """Describe a ``.tflite``/``.onnx`` export, a ``.pt`` checkpoint or ``pretrained``.

    Raises:
        LatencyError: the file does not exist or has another suffix.
        ModelMetadataError: an export without DeepProduct metadata.
    """
    from mobile_sdk.model_metadata import read_model_metadata

    spec = os.fspath(spec)
    if spec == PRETRAINED:
        return ModelVariant(spec, PRETRAINED, "PyTorch eager", "fp32")
    path = Path(spec)
    if not path.is_file():
        raise LatencyError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        return ModelVariant(spec, path.name, "PyTorch eager", "fp32")
    if suffix not in (".tflite", ".onnx"):
        raise LatencyError(f"{path}: not a .tflite, .onnx or .pt model")
    precision = read_model_metadata(path).precision
    return ModelVariant(
        spec, path.name, "LiteRT" if suffix == ".tflite" else "onnxruntime", precision
    )


def dist_models(dist: str | os.PathLike) -> list[Path]:
    """The exported models in ``dist``: the known names first, in ``DIST_ORDER``.

    Raises:
        LatencyError: the folder has no ``.tflite`` or ``.onnx`` file.
    """
    folder = Path(dist)
    rank = {name: i for i, name in enumerate(DIST_ORDER)}
    found = sorted(
        (p for p in folder.glob("*") if p.suffix in (".tflite", ".onnx")),
        key=lambda p: (rank.get(p.name, len(rank)), p.name),
    )
    if not found:
        raise LatencyError(f"{folder}: no .tflite or .onnx models (run 'deepproduct export')")
    return found


def unique_names(variants: list[ModelVariant]) -> list[ModelVariant]:
    """Drop repeats of a file; use the full path as the name where two files share one."""
    seen: dict[str, ModelVariant] = {}
    for v in variants:
        seen.setdefault(v.spec if v.spec == PRETRAINED else str(Path(v.spec).resolve()), v)
    variants = list(seen.values())
    names = [v.name for v in variants]
    return [
        ModelVariant(v.spec, v.spec if names.count(v.name) > 1 else v.name, v.runtime, v.precision)
        for v in variants
    ]


class _Runner:
    """A loaded model: ``run()`` embeds the prepared input once."""

    init_ms: float

    def run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _EmbedderRunner(_Runner):
    def __init__(self, variant: ModelVariant, threads: int, rgb: np.ndarray) -> None:
        from mobile_sdk.embedder import Embedder, EmbedderOptions
        from mobile_sdk.preprocess import preprocess

        t0 = time.perf_counter()
        self._embedder = Embedder.from_model_path(
            variant.spec, EmbedderOptions(num_threads=threads)
        )
        self.init_ms = (time.perf_counter() - t0) * 1e3
        self._x = preprocess(rgb, self._embedder.metadata.preprocess)[None]

    def run(self) -> None:
        self._embedder.embed_input(self._x)

    def close(self) -> None:
        self._embedder.close()


class _TorchRunner(_Runner):
    def __init__(self, variant: ModelVariant, threads: int, rgb: np.ndarray) -> None:
        torch = import_torch()
        from mobile_sdk.preprocess import preprocess
        from trainer.evaluate import load_eval_model

        self._torch = torch
        self._threads = threads
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        self._model = load_eval_model(variant.spec).eval()
        self.init_ms = (time.perf_counter() - t0) * 1e3
        x = torch.from_numpy(preprocess(rgb, self._model.preprocess)[None])
        self._x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def run(self) -> None:
        if self._torch.get_num_threads() != self._threads:
            self._torch.set_num_threads(self._threads)
        with self._torch.inference_mode():
            self._model(self._x)


def import_torch():
    try:
        import torch
    except ModuleNotFoundError:
        raise LatencyError(
            "timing model.pt / pretrained needs PyTorch: pip install 'deepproduct[train]'"
        ) from None
    return torch


def open_runner(variant: ModelVariant, threads: int, rgb: np.ndarray) -> _Runner:
    """Load ``variant`` with ``threads`` CPU threads, ready to embed ``rgb`` repeatedly."""
    if variant.is_torch:
        return _TorchRunner(variant, threads, rgb)
    return _EmbedderRunner(variant, threads, rgb)
