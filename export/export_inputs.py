"""The images an export works on: calibration inputs, and parity (evaluation) inputs.

Both are preprocessed with the runtime's own ``preprocess`` (through
``export.calibration``), so the converters see exactly what the phone will feed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from export.calibration import preprocess_files, select_calibration_files
from export.graph import ExportGraph
from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.retrieval_metrics import RetrievalResult, retrieval_metrics


@dataclass
class ExportInputs:
    """Preprocessed images: calibration, and parity (= evaluation gallery + queries)."""

    calibration: np.ndarray
    parity: np.ndarray
    parity_source: str
    gallery_ids: list[str] = field(default_factory=list)
    query_ids: list[str] = field(default_factory=list)
    calibration_counts: tuple[int, int] = (0, 0)

    @property
    def has_val(self) -> bool:
        return bool(self.query_ids)

    def retrieval(self, embeddings: np.ndarray) -> RetrievalResult | None:
        """Retrieval metrics of embeddings of ``parity`` (gallery rows first)."""
        if not self.has_val:
            return None
        n = len(self.gallery_ids)
        return retrieval_metrics(embeddings[n:], self.query_ids, embeddings[:n], self.gallery_ids)


def load_inputs(
    graph: ExportGraph,
    calib: Dataset,
    val: Dataset | None,
    calib_images: int,
    parity_images: int,
    seed: int,
    progress: bool,
) -> ExportInputs:
    """Preprocess the calibration images and the parity images (``val`` when given).

    Calibration: ``calib_images`` files of ``calib`` chosen by ``seed`` (catalog and
    photos mixed). Parity: ``val``'s gallery then queries, or, without ``val``,
    ``parity_images`` other files of ``calib`` (the calibration images themselves when
    there are no others).
    """
    config = graph.preprocess
    chosen = select_calibration_files(calib, calib_images, seed)
    catalog = {f for p in calib.products for f in p.catalog}
    counts = (sum(f in catalog for f in chosen), sum(f not in catalog for f in chosen))
    calibration = preprocess_files(chosen, config, progress, desc="calibration images")
    if val is not None:
        gallery, queries = val.gallery(), val.queries()
        files = gallery.files + queries.files
        parity = preprocess_files(files, config, progress, "evaluation images")
        return ExportInputs(
            calibration=calibration,
            parity=parity,
            parity_source=f"evaluation set {val.root}",
            gallery_ids=gallery.ids,
            query_ids=queries.ids,
            calibration_counts=counts,
        )
    used = set(chosen)
    rest = sorted(f for p in calib.products for f in p.catalog + p.photos if f not in used)
    random.Random(seed + 1).shuffle(rest)
    if rest:
        files = sorted(rest[:parity_images])
        source = f"{len(files)} images of {calib.root} not used for calibration"
        parity = preprocess_files(files, config, progress, desc="parity images")
    else:
        source = f"the calibration images ({calib.root} has no others)"
        parity = calibration[:parity_images]
    return ExportInputs(calibration, parity, source, calibration_counts=counts)
