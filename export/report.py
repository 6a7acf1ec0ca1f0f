"""The export report: what was written, how close each file is to PyTorch, how well
each file retrieves, whether int8 passed its guard, and which tools made it.

``export_report.json`` is for machines (CI, the Makefile); ``export_report.md``
renders the same facts as tables for people.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any

from export.parity import Agreement
from mobile_sdk.retrieval_metrics import RetrievalResult

REPORT_FORMAT = "deepproduct-export-report/1"
TOOLS = (
    "deepproduct",
    "torch",
    "litert-torch",
    "ai-edge-quantizer",
    "ai-edge-litert",
    "mediapipe",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "numpy",
)


def tool_versions() -> dict[str, str]:
    """Installed versions of the tools that shaped the files (``"missing"`` if absent)."""
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


@dataclass
class FileReport:
    """One exported file.

    Attributes:
        file: file name inside the output folder.
        fmt: ``"tflite"`` or ``"onnx"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        size: bytes.
        sha256: hex digest of the file.
        parity: agreement with PyTorch on the parity images.
        retrieval: top-1/top-5/mAP on the evaluation set (None without ``--val``).
    """

    file: str
    fmt: str
    precision: str
    size: int
    sha256: str
    parity: Agreement
    retrieval: RetrievalResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.fmt,
            "precision": self.precision,
            "bytes": self.size,
            "sha256": self.sha256,
            "parity": self.parity.to_dict(),
            "retrieval": self.retrieval.to_dict() if self.retrieval else None,
        }


@dataclass
class Int8Attempt:
    """One int8 quantization tried for ``model.tflite`` (see ``export.quantize``)."""

    plan: str
    float_ops: list[str]
    size: int
    top1: float | None
    top5: float | None
    cosine_mean: float
    passed: bool | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "float_ops": self.float_ops,
            "bytes": self.size,
            "top1": self.top1,
            "top5": self.top5,
            "cosine_mean": self.cosine_mean,
            "passed": self.passed,
            "note": self.note,
        }


@dataclass
class GuardResult:
    """The int8 accuracy guard on ``model.tflite``.

    ``passed`` is None when no evaluation set was given (nothing to measure).
    """

    max_gap: float
    fp32_top1: float | None
    int8_top1: float | None
    passed: bool | None
    chosen_plan: str
    attempts: list[Int8Attempt] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        """fp32 top-1 minus int8 top-1 (positive = int8 is worse)."""
        if self.fp32_top1 is None or self.int8_top1 is None:
            return None
        return self.fp32_top1 - self.int8_top1

    def message(self) -> str:
        """One line for the terminal and the Markdown report."""
        if self.passed is None:
            return "int8 guard NOT CHECKED (no --val evaluation set)"
        verdict = "passed" if self.passed else "FAILED"
        change = "gains" if self.gap < 0 else "loses"
        return (
            f"int8 guard {verdict}: model.tflite top-1 {self.int8_top1:.3f} vs fp32 "
            f"{self.fp32_top1:.3f} (int8 {change} {100 * abs(self.gap):.1f} points, may lose "
            f"{100 * self.max_gap:.1f}; plan {self.chosen_plan})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": "model.tflite",
            "max_top1_gap": self.max_gap,
            "fp32_top1": self.fp32_top1,
            "int8_top1": self.int8_top1,
            "top1_gap": self.gap,
            "passed": self.passed,
            "chosen_plan": self.chosen_plan,
            "message": self.message(),
            "attempts": [a.to_dict() for a in self.attempts],
        }


@dataclass
class ExportReport:
    """Everything ``export_report.json`` / ``.md`` say."""

    checkpoint: str
    out: str
    facts: dict[str, Any]
    calibration: dict[str, Any]
    evaluation: dict[str, Any]
    pytorch: RetrievalResult | None
    files: list[FileReport]
    guard: GuardResult
    size_limit: int
    notes: list[str]
    tools: dict[str, str]
    seconds: dict[str, float]

    def shipped(self) -> FileReport:
        """The report row of ``model.tflite``."""
        return next(f for f in self.files if f.file == "model.tflite")

    @property
    def size_ok(self) -> bool:
        """Whether ``model.tflite`` is within the size limit."""
        return self.shipped().size <= self.size_limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "checkpoint": self.checkpoint,
            "out": self.out,
            **self.facts,
            "calibration": self.calibration,
            "evaluation": self.evaluation,
            "pytorch_retrieval": self.pytorch.to_dict() if self.pytorch else None,
            "files": [f.to_dict() for f in self.files],
            "int8_guard": self.guard.to_dict(),
            "size_limit": {
                "file": "model.tflite",
                "max_bytes": self.size_limit,
                "bytes": self.shipped().size,
                "passed": self.size_ok,
            },
            "notes": self.notes,
            "tools": self.tools,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_markdown(self) -> str:
        """Tables for people: files, the guard and its attempts, tools."""
        f = self.facts
        lines = [
            f"# Export report: {f['name']} {f['version']}",
            "",
            f"- checkpoint: `{self.checkpoint}`",
            f"- fingerprint: `{f['model_fingerprint']}`",
            f"- embedding: {f['embedding_dim']}-d, L2-normalised in the model: "
            f"{str(f['l2_normalized_output']).lower()} (the runtime normalises)",
            f"- input: NHWC float32 [1,{f['preprocess']['input_size']},"
            f"{f['preprocess']['input_size']},3], preprocessing `{json.dumps(f['preprocess'])}`",
            f"- calibration: {self.calibration['images']} images "
            f"({self.calibration['catalog']} catalog, {self.calibration['photos']} photos) "
            f"from `{self.calibration['root']}`, seed {self.calibration['seed']}",
            f"- parity images: {self.evaluation['parity_images']} "
            f"({self.evaluation['parity_source']})",
        ]
        if self.evaluation.get("root"):
            lines.append(
                f"- evaluation: `{self.evaluation['root']}`, {self.evaluation['queries']} "
                f"queries, {self.evaluation['products']} products"
            )
        lines += [
            "",
            "| file | precision | size (MB) | cosine mean | cosine min | max abs diff "
            "| top-1 | top-5 | top-1 vs fp32 |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        if self.pytorch:
            lines.append(
                f"| PyTorch (reference) | fp32 | | | | | {self.pytorch.top1:.3f} "
                f"| {self.pytorch.top5:.3f} | |"
            )
        fp32_top1 = self.guard.fp32_top1
        for r in self.files:
            p = r.parity
            top1 = f"{r.retrieval.top1:.3f}" if r.retrieval else "n/a"
            top5 = f"{r.retrieval.top5:.3f}" if r.retrieval else "n/a"
            gap = (
                f"{100 * (r.retrieval.top1 - fp32_top1):+.1f} pts"
                if r.retrieval and fp32_top1 is not None
                else ""
            )
            lines.append(
                f"| {r.file} | {r.precision} | {r.size / 1e6:.2f} | {p.cosine_mean:.5f} "
                f"| {p.cosine_min:.5f} | {p.max_abs_diff:.2e} | {top1} | {top5} | {gap} |"
            )
        lines += [
            "",
            f"**{self.guard.message()}**",
            "",
            f"model.tflite size {self.shipped().size / 1e6:.2f} MB, limit "
            f"{self.size_limit / 1e6:.2f} MB: {'ok' if self.size_ok else 'OVER THE LIMIT'}",
        ]
        if self.guard.attempts:
            lines += [
                "",
                "## int8 attempts (model.tflite)",
                "",
                "| plan | ops kept in float | size (MB) | cosine mean | top-1 | top-5 | guard |",
                "|---|---|---:|---:|---:|---:|---|",
            ]
            for a in self.guard.attempts:
                ops = ", ".join(a.float_ops) if a.float_ops else "none"
                top1 = f"{a.top1:.3f}" if a.top1 is not None else "n/a"
                top5 = f"{a.top5:.3f}" if a.top5 is not None else "n/a"
                verdict = {True: "pass", False: "fail", None: "not checked"}[a.passed]
                note = f" ({a.note})" if a.note else ""
                lines.append(
                    f"| {a.plan} | {ops} | {a.size / 1e6:.2f} | {a.cosine_mean:.5f} "
                    f"| {top1} | {top5} | {verdict}{note} |"
                )
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        lines += ["", "## Tools", "", "| tool | version |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.tools.items()]
        lines += ["", "## Time (s)", ""]
        lines += [f"- {k}: {v:.1f}" for k, v in self.seconds.items()]
        return "\n".join(lines) + "\n"
