"""Retrieval accuracy of every model variant, with its size and latency beside it.

Exported files run through the runtime (``mobile_sdk.evaluate``), checkpoints and the
un-tuned ``pretrained`` baseline through PyTorch (``trainer.evaluate``): the same
embedding code the ``deepproduct evaluate`` command uses, the same metrics
(``mobile_sdk.retrieval_metrics``). The shipped model's rankings of a few seeded
queries are kept for the report's example grid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.schema import LatencyReport
from benchmarks.variants import PRETRAINED, ModelVariant, model_variant
from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import DeepProductError
from mobile_sdk.retrieval_metrics import product_scores, retrieval_metrics

SCHEMA = "deepproduct-accuracy/1"
TOP_K = 5


class AccuracyReportError(DeepProductError, ValueError):
    """An accuracy report file is not in this schema."""


@dataclass(frozen=True)
class AccuracyRow:
    """One variant's accuracy, size and latency.

    Attributes:
        name, runtime, precision: as in ``benchmarks.variants.ModelVariant``.
        size_mb: the file's size, or for ``pretrained`` its fp32 parameters (MB, 1e6 bytes).
        size_note: ``file`` or ``fp32 parameters``.
        top1, top5, map: retrieval metrics (fractions).
        queries, products: what they were measured on.
        latency_ms: median single-thread model latency on this machine (None: not timed).
    """

    name: str
    runtime: str
    precision: str
    size_mb: float
    size_note: str
    top1: float
    top5: float
    map: float
    queries: int
    products: int
    latency_ms: float | None = None


@dataclass(frozen=True)
class Example:
    """One query of the example grid: its photo, its product, the model's top-5."""

    photo: str
    product_id: str
    top: list[tuple[str, float]]


@dataclass
class AccuracyReport:
    """Accuracy of all variants on one dataset, plus the example queries.

    Attributes:
        data: the evaluated dataset root.
        rows: one per variant, in the order given.
        example_model: whose rankings the examples show.
        examples: seeded example queries.
        catalog: product id -> the catalog image shown for it.
    """

    data: str
    rows: list[AccuracyRow] = field(default_factory=list)
    example_model: str | None = None
    examples: list[Example] = field(default_factory=list)
    catalog: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document (``schema`` = ``SCHEMA``)."""
        return {
            "schema": SCHEMA,
            "data": self.data,
            "rows": [asdict(r) for r in self.rows],
            "example_model": self.example_model,
            "examples": [asdict(e) for e in self.examples],
            "catalog": self.catalog,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AccuracyReport:
        """Inverse of :meth:`to_dict`.

        Raises:
            AccuracyReportError: another schema or malformed rows.
        """
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise AccuracyReportError(f"not a {SCHEMA} document")
        try:
            rows = [AccuracyRow(**r) for r in doc["rows"]]
            examples = [
                Example(e["photo"], e["product_id"], [(p, float(s)) for p, s in e["top"]])
                for e in doc.get("examples", [])
            ]
        except (KeyError, TypeError, ValueError) as e:
            raise AccuracyReportError(f"malformed {SCHEMA} document: {e}") from None
        return cls(doc["data"], rows, doc.get("example_model"), examples, doc.get("catalog", {}))

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (atomically)."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> AccuracyReport:
        """Read a report written by :meth:`save`.

        Raises:
            AccuracyReportError: unreadable or another schema.
        """
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise AccuracyReportError(f"{path}: cannot read an accuracy report ({e})") from None
        return cls.from_dict(doc)


def _embed(
    variant: ModelVariant, dataset: Dataset, progress: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """(gallery, queries, size_mb) of ``variant`` on ``dataset``."""
    gallery_files, query_files = dataset.gallery().files, dataset.queries().files
    if variant.is_torch:
        from trainer.evaluate import embed_files, load_eval_model

        model = load_eval_model(variant.spec).eval()
        gallery = embed_files(
            model, gallery_files, progress=progress, desc=f"{variant.name} catalog"
        )
        queries = embed_files(model, query_files, progress=progress, desc=f"{variant.name} photos")
        if variant.spec == PRETRAINED:
            size = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
        else:
            size = Path(variant.spec).stat().st_size / 1e6
        return gallery, queries, size
    from mobile_sdk.embedder import Embedder
    from mobile_sdk.evaluate import embed_files

    with Embedder.from_model_path(variant.spec) as embedder:
        gallery = embed_files(embedder, gallery_files, progress, desc=f"{variant.name} catalog")
        queries = embed_files(embedder, query_files, progress, desc=f"{variant.name} photos")
    return gallery, queries, Path(variant.spec).stat().st_size / 1e6


def _latency_by_name(latency: LatencyReport | None) -> dict[str, float]:
    if latency is None:
        return {}
    return {
        r.name: r.typical_ms
        for r in latency.results
        if r.stage == "model" and r.threads == 1 and r.typical_ms is not None
    }


def run_accuracy(
    models: Sequence[str | os.PathLike],
    data: str | os.PathLike,
    baseline: bool = True,
    latency: LatencyReport | None = None,
    latency_runs: int = 20,
    example_model: str | None = None,
    n_examples: int = 8,
    seed: int = 0,
    progress: bool = True,
) -> AccuracyReport:
    """Top-1/top-5/mAP, size and latency of every model on ``data``.

    Args:
        models: exported files and/or ``.pt`` checkpoints.
        data: dataset root with ``catalog/`` and ``photos/``.
        baseline: also evaluate the un-tuned ``pretrained`` network.
        latency: a host latency report to take single-thread medians from; None
            times the models here (``latency_runs`` interleaved runs, one thread).
        latency_runs: see ``latency``; 0 leaves latency out.
        example_model: the variant whose rankings the example grid shows (default:
            the first exported file).
        n_examples: example queries (distinct products, seeded choice).
        seed: picks the examples.
        progress: show progress bars.

    Raises:
        DatasetError: ``data`` is not a dataset with photos.
        LatencyError, ModelMetadataError, EmbedderError, CheckpointError: a model
            cannot be loaded.
    """
    dataset = scan_dataset(data, require_photos=True)
    specs = [os.fspath(m) for m in models] + ([PRETRAINED] if baseline else [])
    variants = [model_variant(s) for s in specs]
    if latency is None and latency_runs > 0:
        from benchmarks.frames import query_frames
        from benchmarks.latency import model_latency

        rgb = np.asarray(_decode(query_frames(data, count=1)[0]))
        latency = LatencyReport(
            "host",
            {},
            model_latency(variants, (1,), latency_runs, 3, rgb, memory=False, progress=progress),
        )
    medians = _latency_by_name(latency)
    if example_model is None:
        example_model = next((v.name for v in variants if not v.is_torch), variants[0].name)
    gallery_ids, (query_files, query_ids) = dataset.gallery().ids, dataset.queries()
    report = AccuracyReport(str(data), example_model=example_model)
    report.catalog = {p.product_id: str(p.catalog[0]) for p in dataset.products if p.catalog}
    for v in variants:
        gallery, queries, size = _embed(v, dataset, progress)
        gallery, queries = gallery.astype(np.float32), queries.astype(np.float32)
        result = retrieval_metrics(queries, query_ids, gallery, gallery_ids)
        report.rows.append(
            AccuracyRow(
                name=v.name,
                runtime=v.runtime,
                precision=v.precision,
                size_mb=size,
                size_note="fp32 parameters" if v.spec == PRETRAINED else "file",
                top1=result.top1,
                top5=result.top5,
                map=result.map,
                queries=result.queries,
                products=result.products,
                latency_ms=medians.get(v.name),
            )
        )
        if v.name == example_model:
            report.examples = _examples(
                queries, query_files, query_ids, gallery, gallery_ids, n_examples, seed
            )
    return report


def _decode(jpeg: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(jpeg)).convert("RGB")


def _examples(
    queries: np.ndarray,
    query_files: Sequence[Path],
    query_ids: Sequence[str],
    gallery: np.ndarray,
    gallery_ids: Sequence[str],
    n: int,
    seed: int,
) -> list[Example]:
    """``n`` seeded queries of distinct products with their top-5 products and scores."""
    scores, products = product_scores(queries, gallery, gallery_ids)
    first_of_product: dict[str, int] = {}
    rng = np.random.default_rng(seed)
    for i in rng.permutation(len(query_ids)):
        first_of_product.setdefault(query_ids[i], int(i))
    picks = sorted(first_of_product.values())
    picks = sorted(rng.choice(picks, size=min(n, len(picks)), replace=False).tolist())
    examples = []
    for i in picks:
        order = np.argsort(-scores[i], kind="stable")[:TOP_K]
        top = [(products[j], float(scores[i, j])) for j in order]
        examples.append(Example(str(query_files[i]), query_ids[i], top))
    return examples
