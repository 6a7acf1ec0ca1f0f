"""``deepproduct export``: a checkpoint -> five model files and a report, in order.

1. load the checkpoint, the calibration and evaluation folders (errors before any work);
2. preprocess calibration and parity images with the runtime's ``preprocess``;
3. convert: fp32 TFLite (litert-torch), fp16 and int8 TFLite (ai-edge-quantizer),
   fp32 and int8 ONNX (torch.onnx, onnxruntime); int8 is guarded by retrieval
   accuracy, with ops kept in float as the remedy when it costs too much;
4. add metadata, evaluate every file through ``mobile_sdk.embedder.Embedder``;
5. move the files into the output folder (each written atomically, the report last).

Everything is built in a temporary folder: a failure leaves the output folder as
it was.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from export.calibration import (
    DEFAULT_CALIBRATION_IMAGES,
    load_dataset,
    preprocess_files,
    select_calibration_files,
)
from export.errors import AccuracyGuardError, CalibrationError
from export.graph import L2_NORMALIZED_OUTPUT, ExportGraph, load_export_graph, model_fingerprint
from export.metadata import add_tflite_metadata
from export.onnx_export import export_onnx_fp32, with_metadata
from export.onnx_quantize import quantize_onnx_int8
from export.parity import agreement
from export.quantize import Int8Plan, Int8Quantizer, OpInfo, quantize_fp16, run_tflite
from export.report import (
    ExportReport,
    FileReport,
    GuardResult,
    Int8Attempt,
    tool_versions,
)
from export.tflite_export import convert_fp32
from mobile_sdk.atomic_file import (
    OutputError,
    check_writable_dir,
    write_bytes_atomic,
    write_text_atomic,
)
from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.embedder import Embedder, EmbedderOptions
from mobile_sdk.model_metadata import ModelMetadata
from mobile_sdk.retrieval_metrics import RetrievalResult, retrieval_metrics

SHIPPED = "model.tflite"
# file name -> (format, precision), in report order
FILES: dict[str, tuple[str, str]] = {
    "model.tflite": ("tflite", "int8"),
    "model_fp16.tflite": ("tflite", "fp16"),
    "model_fp32.tflite": ("tflite", "fp32"),
    "model.onnx": ("onnx", "fp32"),
    "model_int8.onnx": ("onnx", "int8"),
}
REPORT_JSON = "export_report.json"
REPORT_MD = "export_report.md"
MAX_MODEL_BYTES = 5_500_000
MAX_TOP1_GAP = 0.01
# Remedy ladder: keep the k most sensitive ops in float, for growing k.
REMEDY_STEPS = (1, 2, 4, 8, 16)
SENSITIVITY_IMAGES = 32


@dataclass
class ExportOptions:
    """What ``deepproduct export`` was asked to do.

    Attributes:
        checkpoint: a ``model.pt`` written by ``deepproduct train``.
        calib: dataset root whose images calibrate int8 (standard layout).
        out: output folder; the five model files and two reports are (re)written.
        val: dataset root for retrieval accuracy and the int8 guard (optional).
        calib_images: how many calibration images (catalog and photos mixed).
        parity_images: without ``val``, how many other images of ``calib`` to
            measure agreement with PyTorch on.
        seed: chooses the calibration and parity images.
        name, version: written into the model metadata; ``name`` defaults to
            ``deepproduct-<backbone>-<D>d``.
        max_top1_gap: allowed top-1 loss of int8 against fp32 (0.01 = 1 point).
        max_model_bytes: size limit of ``model.tflite``.
        strict: raise :class:`AccuracyGuardError` (after writing everything) when the
            guard fails or ``model.tflite`` is over the size limit.
        progress: show progress bars.
    """

    checkpoint: Path
    calib: Path
    out: Path
    val: Path | None = None
    calib_images: int = DEFAULT_CALIBRATION_IMAGES
    parity_images: int = 64
    seed: int = 0
    name: str | None = None
    version: str = "1"
    max_top1_gap: float = MAX_TOP1_GAP
    max_model_bytes: int = MAX_MODEL_BYTES
    strict: bool = False
    progress: bool = True


@dataclass
class ExportResult:
    """What was written: the files and the report."""

    out: Path
    files: list[Path]
    report: ExportReport
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the terminal."""
        shipped = self.report.shipped()
        top1 = f", top-1 {shipped.retrieval.top1:.3f}" if shipped.retrieval else ""
        return (
            f"wrote {len(self.files)} files to {self.out} in {self.seconds:.0f} s: "
            f"{SHIPPED} {shipped.size / 1e6:.2f} MB int8{top1}; {self.report.guard.message()}"
        )


@dataclass
class _Inputs:
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


def export_checkpoint(options: ExportOptions) -> ExportResult:
    """Export ``options.checkpoint`` into ``options.out``; see the module docstring.

    Raises:
        CheckpointError: the checkpoint is missing, corrupt or not a DeepProduct one.
        CalibrationError: a data folder is missing, empty or has unreadable images.
        ConversionError: a converter or quantizer failed.
        OutputError: the output folder cannot be written (checked before any work),
            or writing failed (disk full); files not yet replaced keep their old bytes.
        AccuracyGuardError: with ``strict``, after writing, when the int8 guard failed
            or ``model.tflite`` is over the size limit.
    """
    t_start = time.time()
    seconds: dict[str, float] = {}
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    check_writable_dir(out)
    graph = load_export_graph(options.checkpoint)
    calib = load_dataset(options.calib, "calibration")
    val = load_dataset(options.val, "evaluation") if options.val is not None else None
    if val is not None and val.num_photos == 0:
        raise CalibrationError(f"{val.root}: evaluation folder has no photos/ to query with")

    steps = tqdm(total=9, desc="export", unit="step", disable=not options.progress)

    def step(name: str, fn: Callable[[], object]):
        steps.set_postfix_str(name)
        t = time.time()
        result = fn()
        seconds[name] = time.time() - t
        steps.update()
        return result

    try:
        inputs = step("images", lambda: _load_inputs(graph, calib, val, options))
        reference = step("pytorch", lambda: graph.embed_inputs(inputs.parity))
        fingerprint = model_fingerprint(graph)
        name = options.name or f"deepproduct-{graph.model.config.backbone}-{graph.embedding_dim}d"

        def meta(precision: str) -> ModelMetadata:
            return ModelMetadata(
                preprocess=graph.preprocess,
                embedding_dim=graph.embedding_dim,
                l2_normalized_output=L2_NORMALIZED_OUTPUT,
                model_fingerprint=fingerprint,
                name=name,
                version=options.version,
                precision=precision,
            )

        with tempfile.TemporaryDirectory(prefix="deepproduct-export-") as tmp:
            staged = Path(tmp)
            fp32 = step("tflite fp32", lambda: convert_fp32(graph, out / "model_fp32.tflite"))
            (staged / "model_fp32.tflite").write_bytes(add_tflite_metadata(fp32, meta("fp32")))
            fp16 = step("tflite fp16", lambda: quantize_fp16(fp32, str(out / "model_fp16.tflite")))
            (staged / "model_fp16.tflite").write_bytes(add_tflite_metadata(fp16, meta("fp16")))
            guard, int8 = step(
                "tflite int8", lambda: _quantize_guarded(fp32, inputs, meta("int8"), options)
            )
            (staged / SHIPPED).write_bytes(int8)
            onnx32 = step("onnx fp32", lambda: export_onnx_fp32(graph, out / "model.onnx"))
            (staged / "model.onnx").write_bytes(with_metadata(onnx32, meta("fp32")))
            onnx8 = step(
                "onnx int8",
                lambda: quantize_onnx_int8(onnx32, inputs.calibration, out / "model_int8.onnx"),
            )
            (staged / "model_int8.onnx").write_bytes(with_metadata(onnx8, meta("int8")))
            files = step(
                "evaluate", lambda: _evaluate_files(staged, inputs, reference, options.progress)
            )
            pytorch = inputs.retrieval(reference)
            report = ExportReport(
                checkpoint=str(options.checkpoint),
                out=str(out),
                facts=_facts(meta("fp32")),
                calibration={
                    "root": str(calib.root),
                    "images": len(inputs.calibration),
                    "catalog": inputs.calibration_counts[0],
                    "photos": inputs.calibration_counts[1],
                    "seed": options.seed,
                },
                evaluation={
                    "root": str(val.root) if val else None,
                    "queries": len(inputs.query_ids),
                    "products": len(set(inputs.gallery_ids)),
                    "parity_images": len(inputs.parity),
                    "parity_source": inputs.parity_source,
                },
                pytorch=pytorch,
                files=files,
                guard=guard,
                size_limit=options.max_model_bytes,
                notes=_notes(),
                tools=tool_versions(),
                seconds=seconds,
            )
            step("write", lambda: _install(staged, out))
            report.seconds["total"] = time.time() - t_start
            write_text_atomic(out / REPORT_MD, report.to_markdown())
            write_text_atomic(out / REPORT_JSON, report.to_json())
    finally:
        steps.close()
    written = [out / n for n in FILES] + [out / REPORT_JSON, out / REPORT_MD]
    result = ExportResult(out=out, files=written, report=report, seconds=time.time() - t_start)
    if options.strict and (guard.passed is False or not report.size_ok):
        problems = [guard.message()] if guard.passed is False else []
        if not report.size_ok:
            problems.append(
                f"{SHIPPED} is {report.shipped().size / 1e6:.2f} MB, over the "
                f"{options.max_model_bytes / 1e6:.2f} MB limit"
            )
        raise AccuracyGuardError(
            f"{out / SHIPPED}: " + "; ".join(problems) + f" (see {out / REPORT_MD})"
        )
    return result


def _load_inputs(
    graph: ExportGraph, calib: Dataset, val: Dataset | None, options: ExportOptions
) -> _Inputs:
    config = graph.preprocess
    chosen = select_calibration_files(calib, options.calib_images, options.seed)
    catalog = {f for p in calib.products for f in p.catalog}
    counts = (sum(f in catalog for f in chosen), sum(f not in catalog for f in chosen))
    calibration = preprocess_files(chosen, config, options.progress, desc="calibration images")
    if val is not None:
        gallery, queries = val.gallery(), val.queries()
        files = gallery.files + queries.files
        parity = preprocess_files(files, config, options.progress, "evaluation images")
        return _Inputs(
            calibration=calibration,
            parity=parity,
            parity_source=f"evaluation set {val.root}",
            gallery_ids=gallery.ids,
            query_ids=queries.ids,
            calibration_counts=counts,
        )
    used = set(chosen)
    rest = sorted(f for p in calib.products for f in p.catalog + p.photos if f not in used)
    random.Random(options.seed + 1).shuffle(rest)
    if rest:
        files = sorted(rest[: options.parity_images])
        source = f"{len(files)} images of {calib.root} not used for calibration"
        parity = preprocess_files(files, config, options.progress, desc="parity images")
    else:
        source = f"the calibration images ({calib.root} has no others)"
        parity = calibration[: options.parity_images]
    return _Inputs(calibration, parity, source, calibration_counts=counts)


def _quantize_guarded(
    fp32: bytes, inputs: _Inputs, meta: ModelMetadata, options: ExportOptions
) -> tuple[GuardResult, bytes]:
    """Quantize to int8; when the guard fails, keep the most sensitive ops in float.

    The remedy ranks ops by how much floating each one alone reduces the int8 error
    on a few calibration images (never the evaluation set), then adds them greedily,
    skipping any that would push ``model.tflite`` over the size limit, and checks the
    guard after 1, 2, 4, 8 and 16 float ops. The first plan that passes is shipped;
    if none does, the most accurate one is, and the guard reports the failure.

    Returns the guard outcome (with every attempt) and the chosen model, with metadata.
    """
    quantizer = Int8Quantizer(fp32, inputs.calibration, str(options.out / SHIPPED))
    fp32_out = run_tflite(fp32, inputs.parity)
    fp32_top1 = inputs.retrieval(fp32_out).top1 if inputs.has_val else None
    attempts: list[tuple[Int8Attempt, bytes]] = []

    def build(ops: list[OpInfo]) -> bytes:
        name = f"int8+float[{len(ops)}]" if ops else "int8"
        plan = Int8Plan(name, tuple(op.output_name for op in ops))
        return add_tflite_metadata(quantizer.quantize(plan), meta)

    def evaluate(ops: list[OpInfo], model: bytes, note: str = "") -> Int8Attempt:
        out = run_tflite(model, inputs.parity)
        result = inputs.retrieval(out)
        record = Int8Attempt(
            plan=f"int8+float[{len(ops)}]" if ops else "int8",
            float_ops=[op.short_name for op in ops],
            size=len(model),
            top1=result.top1 if result else None,
            top5=result.top5 if result else None,
            cosine_mean=agreement(fp32_out, out).cosine_mean,
            passed=None if result is None else fp32_top1 - result.top1 <= options.max_top1_gap,
            note=note,
        )
        attempts.append((record, model))
        return record

    base = evaluate([], build([]))
    if base.passed is False:
        sample = inputs.calibration[:SENSITIVITY_IMAGES]
        ranking = quantizer.sensitivity(sample, run_tflite(fp32, sample))
        floated: list[OpInfo] = []
        too_big: list[str] = []
        for op, gain in ranking:
            if gain <= 0 or len(floated) >= REMEDY_STEPS[-1]:
                break
            model = build(floated + [op])
            if len(model) > options.max_model_bytes:
                too_big.append(f"#{op.index}")
                continue
            floated.append(op)
            if len(floated) in REMEDY_STEPS:
                note = f"left in int8 for size: {', '.join(too_big)}" if too_big else ""
                if evaluate(list(floated), model, note).passed:
                    break
    chosen = next(((a, m) for a, m in attempts if a.passed), None)
    if chosen is None:
        # nothing passed: ship the most accurate attempt (all are within the size limit)
        chosen = max(attempts, key=lambda am: (am[0].top1 or 0.0, -len(am[0].float_ops)))
    record, model = chosen
    guard = GuardResult(
        max_gap=options.max_top1_gap,
        fp32_top1=fp32_top1,
        int8_top1=record.top1,
        passed=record.passed,
        chosen_plan=record.plan,
        attempts=[a for a, _ in attempts],
    )
    return guard, model


def _evaluate_files(
    staged: Path, inputs: _Inputs, reference: np.ndarray, progress: bool
) -> list[FileReport]:
    """Agreement with PyTorch and retrieval of every staged file, via ``Embedder``."""
    reports = []
    raw = EmbedderOptions(l2_normalize=False)
    for name, (fmt, precision) in tqdm(
        FILES.items(), desc="evaluating files", unit="file", disable=not progress, leave=False
    ):
        path = staged / name
        with Embedder.from_model_path(path, raw) as embedder:
            out = embedder.embed_input(inputs.parity)
        data = path.read_bytes()
        reports.append(
            FileReport(
                file=name,
                fmt=fmt,
                precision=precision,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                parity=agreement(reference, out),
                retrieval=inputs.retrieval(out),
            )
        )
    return reports


def _install(staged: Path, out: Path) -> None:
    """Copy the staged model files into ``out``, each one atomically."""
    out.mkdir(parents=True, exist_ok=True)
    # An old report must not sit beside new models if installing stops half-way.
    for name in (REPORT_JSON, REPORT_MD):
        (out / name).unlink(missing_ok=True)
    for name in FILES:
        write_bytes_atomic(out / name, (staged / name).read_bytes())


def _facts(meta: ModelMetadata) -> dict:
    """Metadata shared by all files (the per-file ``precision`` and tag left out)."""
    facts = meta.to_dict()
    del facts["format"], facts["precision"]
    return facts


def _notes() -> list[str]:
    return [
        "The final L2 normalisation is not part of any exported graph "
        "(l2_normalized_output=false): int8 SQRT/L2_NORMALIZATION broke several converters, "
        "and the runtime normalises in float (mobile_sdk.embedder, EmbedderOptions.l2_normalize).",
        "Agreement compares raw (unnormalised) outputs: cosine after normalisation, max abs "
        "diff on the raw vectors.",
        "Exporting the same checkpoint with the same tool versions and calibration images "
        "gives byte-identical model files (zip timestamps inside .tflite are pinned); only "
        "this report's timings differ between runs.",
    ]
