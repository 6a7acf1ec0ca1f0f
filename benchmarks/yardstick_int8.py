"""The shipped form of a yardstick run: its ``model.pt`` exported to int8 ``model.tflite``
(``deepproduct export``, calibrated on the fold's own training images) and scored through
the runtime's :class:`~mobile_sdk.embedder.Embedder` on the yardstick's query groups,
every query against the whole catalog, exactly as the PyTorch float32 row is scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.yardstick_folds import rank_groups
from export.pipeline import SHIPPED, ExportOptions, export_checkpoint
from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.embedder import Embedder
from mobile_sdk.evaluate import embed_files

INT8 = "int8 model.tflite"


def export_run(run: Path, calib: Path) -> Path:
    """``run/dist/model.tflite``, exported from ``run/model.pt`` unless it is there already."""
    shipped = run / "dist" / SHIPPED
    if not shipped.is_file():
        export_checkpoint(ExportOptions(checkpoint=run / "model.pt", calib=calib, out=run / "dist"))
    return shipped


def score_int8(run: Path, calib: Path, data: Dataset, groups: dict[str, list[Path]]) -> dict:
    """Top-1/top-5/mAP per query group of the run's int8 ``model.tflite``.

    Raises:
        CheckpointError, CalibrationError, ConversionError: the export failed.
        ImageLoadError: a query or catalog image cannot be loaded.
    """
    gallery_files, gallery_ids = data.gallery()
    with Embedder.from_model_path(export_run(run, calib)) as embedder:

        def embed(files: list[Path], name: str) -> np.ndarray:
            return embed_files(embedder, files, desc=f"{name} int8").astype(np.float32)

        return rank_groups(embed, {"": embed(gallery_files, "catalog")}, gallery_ids, groups)[""]
