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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from export.calibration import DEFAULT_CALIBRATION_IMAGES, load_dataset
from export.errors import AccuracyGuardError, CalibrationError
from export.export_inputs import ExportInputs, load_inputs
from export.graph import L2_NORMALIZED_OUTPUT, load_export_graph, model_fingerprint
from export.int8_guard import quantize_guarded
from export.metadata import add_tflite_metadata
from export.onnx_export import export_onnx_fp32, with_metadata
from export.onnx_quantize import quantize_onnx_int8
from export.parity import agreement
from export.quantize import quantize_fp16
from export.report import ExportReport, FileReport, tool_versions
from export.tflite_export import convert_fp32
from mobile_sdk.atomic_file import (
    OutputError,
    check_writable_dir,
    write_bytes_atomic,
    write_text_atomic,
)
from mobile_sdk.embedder import Embedder, EmbedderOptions
from mobile_sdk.model_metadata import ModelMetadata

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
        inputs = step(
            "images",
            lambda: load_inputs(
                graph,
                calib,
                val,
                options.calib_images,
                options.parity_images,
                options.seed,
                options.progress,
            ),
        )
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
                "tflite int8",
                lambda: quantize_guarded(
                    fp32,
                    inputs,
                    meta("int8"),
                    str(out / SHIPPED),
                    options.max_top1_gap,
                    options.max_model_bytes,
                ),
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


def _evaluate_files(
    staged: Path, inputs: ExportInputs, reference: np.ndarray, progress: bool
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
