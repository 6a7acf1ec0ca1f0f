"""The latency report: one schema for host timing, ``benchmark_model`` and the demo app.

Every source (``benchmarks.latency`` on this machine, ``benchmarks.device`` through
adb) produces a :class:`LatencyReport`: where it ran (``machine``) and one
:class:`LatencyResult` per (what was timed, threads, XNNPACK). Fields a source cannot
measure are ``None`` (``benchmark_model`` reports a mean, not percentiles; the app
reports p50/p90 but no p99), so reports from different sources line up column by
column. Targets (``Target``) compare two results of one report; ``check_targets``
says whether each is met and by how much.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.errors import DeepProductError

SCHEMA = "deepproduct-latency/1"
STAGES = ("model", "decode", "preprocess", "embed", "search", "end-to-end")


class ReportFormatError(DeepProductError, ValueError):
    """A latency report file is not in this schema."""


@dataclass(frozen=True)
class LatencyResult:
    """Timing of one thing under one configuration; times in milliseconds.

    Attributes:
        name: what was timed: a model file name (``model.tflite``, ``model.pt``), or
            a pipeline stage's label (``search 100,000 rows int8``).
        stage: one of ``STAGES``: ``model`` is one inference of a preprocessed input.
        runtime: ``LiteRT``, ``onnxruntime``, ``PyTorch eager``, ``benchmark_model``,
            ``Android app`` ...
        precision: ``fp32``, ``fp16``, ``int8`` or None (not a model).
        threads: CPU threads the runtime was given (None: not applicable, e.g. GPU).
        xnnpack: whether LiteRT's XNNPACK delegate was on (None: not a LiteRT knob
            here, or unknown).
        runs: timed runs after the warm-up.
        warmup: untimed runs before them (None: unknown).
        p50_ms, p90_ms, p99_ms: nearest-rank percentiles (None: not reported).
        mean_ms, min_ms, max_ms, std_ms: over the timed runs (None: not reported).
        peak_memory_mb: peak resident memory of a process that loads only this model
            and runs it (None: not measured).
        memory_delta_mb: that peak minus the process's memory just before loading
            the model: what the model itself costs.
        init_ms: time to load the model and prepare the interpreter.
        note: anything a reader needs to interpret the row.
    """

    name: str
    stage: str
    runtime: str
    precision: str | None
    threads: int | None
    xnnpack: bool | None
    runs: int
    warmup: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    std_ms: float | None = None
    peak_memory_mb: float | None = None
    memory_delta_mb: float | None = None
    init_ms: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")

    @property
    def typical_ms(self) -> float | None:
        """The median when the source reports one, else the mean (``benchmark_model``)."""
        return self.p50_ms if self.p50_ms is not None else self.mean_ms


def summarize_ms(samples_ms: Sequence[float]) -> dict[str, float]:
    """Percentiles (nearest rank, as the Android app computes them) and moments.

    Args:
        samples_ms: at least one timing, in milliseconds.

    Returns:
        ``{"p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms", "std_ms"}``.

    Raises:
        ValueError: no samples.
    """
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if x.size == 0:
        raise ValueError("no timings to summarize")

    def rank(p: float) -> float:
        return float(x[min(max(math.ceil(p * x.size) - 1, 0), x.size - 1)])

    return {
        "p50_ms": rank(0.50),
        "p90_ms": rank(0.90),
        "p99_ms": rank(0.99),
        "mean_ms": float(x.mean()),
        "min_ms": float(x[0]),
        "max_ms": float(x[-1]),
        "std_ms": float(x.std()),
    }


@dataclass(frozen=True)
class Target:
    """``subject`` must take at most ``max_ratio`` times as long as ``reference``.

    Both are result names (model file names) compared at ``threads`` threads on
    their typical time (median, or mean where only a mean exists).
    """

    subject: str
    reference: str
    max_ratio: float
    threads: int = 1


# The issue-6 targets, single thread, on the machine that runs the benchmark.
DEFAULT_TARGETS = (
    Target("model.tflite", "model.pt", 0.25),
    Target("model.tflite", "model_int8.onnx", 1.0),
)


@dataclass(frozen=True)
class TargetCheck:
    """The outcome of one :class:`Target` on one report.

    Attributes:
        target: the target.
        subject_ms, reference_ms: the compared times (None: result missing).
        ratio: ``subject_ms / reference_ms``.
        met: whether ``ratio <= max_ratio`` (None: could not be checked).
        headroom: ``1 - ratio / max_ratio``: positive = met with this fraction to
            spare, negative = missed by this fraction of the allowed time.
        reason: why it could not be checked, when ``met`` is None.
    """

    target: Target
    subject_ms: float | None
    reference_ms: float | None
    ratio: float | None
    met: bool | None
    headroom: float | None
    reason: str = ""

    def sentence(self) -> str:
        """One line for a report: numbers, verdict, margin."""
        t = self.target
        head = f"{t.subject} <= {t.max_ratio:g}x {t.reference} ({t.threads} thread"
        head += "s)" if t.threads != 1 else ")"
        if self.met is None:
            return f"{head}: not checked ({self.reason})"
        verdict = "met" if self.met else "NOT met"
        margin = abs(self.headroom) * 100
        side = "under the limit" if self.met else "over the limit"
        return (
            f"{head}: {self.subject_ms:.2f} ms vs {self.reference_ms:.2f} ms = "
            f"{self.ratio:.3f}x -> {verdict} ({margin:.1f}% {side})"
        )


def check_targets(
    results: Iterable[LatencyResult], targets: Sequence[Target] = DEFAULT_TARGETS
) -> list[TargetCheck]:
    """Evaluate ``targets`` on the ``model``-stage results of one report."""
    by_key = {
        (r.name, r.threads): r
        for r in results
        if r.stage == "model" and r.typical_ms is not None and r.xnnpack is not False
    }
    checks = []
    for t in targets:
        subject = _find(by_key, t.subject, t.threads)
        reference = _find(by_key, t.reference, t.threads)
        if subject is None or reference is None:
            missing = t.subject if subject is None else t.reference
            checks.append(
                TargetCheck(t, None, None, None, None, None, f"no {t.threads}-thread {missing}")
            )
            continue
        s, r = subject.typical_ms, reference.typical_ms
        ratio = s / r
        checks.append(TargetCheck(t, s, r, ratio, ratio <= t.max_ratio, 1 - ratio / t.max_ratio))
    return checks


def _find(
    by_key: dict[tuple[str, int | None], LatencyResult], name: str, threads: int
) -> LatencyResult | None:
    """The result called ``name``; a ``.pt`` name also matches the one checkpoint timed
    under another file name (``runs/x/checkpoint.pt``)."""
    if (name, threads) in by_key:
        return by_key[name, threads]
    if name.endswith(".pt"):
        found = [r for (n, t), r in by_key.items() if t == threads and n.endswith(".pt")]
        return found[0] if len(found) == 1 else None
    return None


@dataclass
class LatencyReport:
    """A set of timings from one source on one machine.

    Attributes:
        source: ``host`` (``deepproduct bench latency``), ``adb benchmark_model`` or
            ``adb app``.
        machine: what it ran on (``benchmarks.machine.describe_machine`` or the
            device's properties).
        results: the timings.
        targets: target checks (host reports; empty for devices).
        settings: how it was run (runs, warm-up, threads, image...).
    """

    source: str
    machine: dict[str, Any]
    results: list[LatencyResult] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document (``schema`` = ``SCHEMA``)."""
        return {
            "schema": SCHEMA,
            "source": self.source,
            "machine": self.machine,
            "settings": self.settings,
            "results": [asdict(r) for r in self.results],
            "targets": [
                {**asdict(c), "met": c.met, "sentence": c.sentence()} for c in self.targets
            ],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LatencyReport:
        """Inverse of :meth:`to_dict`.

        Raises:
            ReportFormatError: another schema, or malformed rows.
        """
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ReportFormatError(f"not a {SCHEMA} document")
        names = {f.name for f in fields(LatencyResult)}
        try:
            results = [
                LatencyResult(**{k: v for k, v in r.items() if k in names}) for r in doc["results"]
            ]
            targets = [
                TargetCheck(
                    Target(**c["target"]),
                    c["subject_ms"],
                    c["reference_ms"],
                    c["ratio"],
                    c["met"],
                    c["headroom"],
                    c.get("reason", ""),
                )
                for c in doc.get("targets", [])
            ]
        except (KeyError, TypeError, ValueError) as e:
            raise ReportFormatError(f"malformed {SCHEMA} document: {e}") from None
        return cls(doc["source"], doc.get("machine", {}), results, targets, doc.get("settings", {}))

    def save(self, path: str | os.PathLike) -> None:
        """Write the report as JSON (atomically)."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatencyReport:
        """Read a report written by :meth:`save`.

        Raises:
            ReportFormatError: unreadable, not JSON, or another schema.
        """
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ReportFormatError(f"{path}: cannot read a latency report ({e})") from None
        try:
            return cls.from_dict(doc)
        except ReportFormatError as e:
            raise ReportFormatError(f"{path}: {e}") from None
