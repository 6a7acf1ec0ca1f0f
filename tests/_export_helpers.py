"""One small end-to-end export shared by test_export.py and test_embedder.py.

The export of a 32-d EfficientNet-Lite0 takes ~30 s on 2 cores, so it runs once per
test session (cached here) no matter how many modules use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

EXPORT_MODULES = ("litert_torch", "ai_edge_quantizer", "onnx", "onnxruntime", "mediapipe")
EMBEDDING_DIM = 32


def require_export_extra() -> None:
    """Skip the calling module unless the [export] extra is installed."""
    for module in EXPORT_MODULES:
        pytest.importorskip(
            module,
            reason=f"{module} missing: install the export extra (pip install -e '.[export]')",
        )


@dataclass(frozen=True)
class SmallExport:
    """Paths of the shared export: checkpoint, synthetic dataset, output folder."""

    checkpoint: Path
    data: Path
    dist: Path
    result: object  # export.pipeline.ExportResult


_CACHE: dict[str, SmallExport] = {}


def small_export(tmp_path_factory: pytest.TempPathFactory) -> SmallExport:
    """Build (once) a checkpoint and a synthetic dataset, and export them."""
    if "export" not in _CACHE:
        import torch

        from export.pipeline import ExportOptions, export_checkpoint
        from trainer.model import EmbeddingNet, ModelConfig, model_payload
        from trainer.synthetic import generate_dataset

        root = tmp_path_factory.mktemp("small-export")
        torch.manual_seed(0)
        checkpoint = root / "model.pt"
        # ImageNet weights with a random 32-d head: realistic activation ranges for
        # int8, no training needed.
        torch.save(
            model_payload(EmbeddingNet(ModelConfig(embedding_dim=EMBEDDING_DIM))), checkpoint
        )
        data = generate_dataset(root / "data", n_products=4, photos_per_product=2, progress=False)
        dist = root / "dist"
        # 8 queries: one query is 12.5 points of top-1, so the guard's default 1 point
        # would be noise here; test_export exercises the guard with its own options.
        options = ExportOptions(
            checkpoint=checkpoint, calib=data, out=dist, val=data, max_top1_gap=1.0, progress=False
        )
        result = export_checkpoint(options)
        _CACHE["export"] = SmallExport(checkpoint, Path(data), dist, result)
    return _CACHE["export"]
