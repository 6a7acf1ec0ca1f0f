"""Host latency of every model variant, side by side, plus end-to-end search.

Model stage: each variant (``.tflite`` on LiteRT, ``.onnx`` on onnxruntime, both
through ``mobile_sdk.embedder.Embedder`` as an app would use them; ``model.pt`` and
the un-tuned ``pretrained`` network on PyTorch eager fp32) embeds one preprocessed
photo. For each thread count all variants are loaded, warmed up, and then timed in
*interleaved blocks*: round after round, every variant (in rotating order) gets one
untimed run, to refill caches and wake its thread pool after another runtime ran,
then ``block`` timed runs. Drift on a busy machine (another job, thermal throttling)
thus hits every variant alike and their ratios hold.

Peak memory: every (variant, threads) also runs in a fresh process that imports its
runtime, records its memory, loads the model and runs it a few times; the report
gives that process's peak resident memory and the part of it the model added.

End to end: a JPEG camera frame (1280 x 960) is decoded, preprocessed, embedded and
searched in an int8 index of 100,000 products (random vectors with the model's
fingerprint), each stage timed separately.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmarks.machine import describe_machine
from benchmarks.schema import DEFAULT_TARGETS, LatencyReport, LatencyResult, summarize_ms
from mobile_sdk.errors import DeepProductError, run_reporting_errors

PRETRAINED = "pretrained"
FRAME_SIZE = (1280, 960)  # the Android benchmark's synthetic camera frame
# Canonical order of the exported files (the shipped model first).
DIST_ORDER = (
    "model.tflite",
    "model_fp16.tflite",
    "model_fp32.tflite",
    "model_int8.onnx",
    "model.onnx",
)
MEMORY_PROBE_RUNS = 5


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


def _unique_names(variants: list[ModelVariant]) -> list[ModelVariant]:
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


# ----------------------------------------------------------------------------- runners


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
        torch = _import_torch()
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


def _import_torch():
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


# ----------------------------------------------------------------------------- timing


def time_interleaved(
    runs: dict[str, Callable[[], None]],
    n: int,
    warmup: int,
    block: int = 5,
    on_run: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Time every callable ``n`` times in interleaved blocks (see the module docstring).

    Args:
        runs: name -> a callable doing one run.
        n: timed runs per callable (>= 1).
        warmup: untimed runs per callable first.
        block: timed runs per callable per round.
        on_run: called after every timed run (progress bars).

    Returns:
        name -> ``n`` wall-clock times in milliseconds, in the order measured.
    """
    if n < 1 or block < 1 or warmup < 0:
        raise ValueError(f"need n >= 1, block >= 1, warmup >= 0; got {n}, {block}, {warmup}")
    names = list(runs)
    for name in names:
        for _ in range(warmup):
            runs[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(math.ceil(n / block)):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn = runs[name]
            fn()
            for _ in range(min(block, n - len(times[name]))):
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
                if on_run:
                    on_run()
    return times


# ----------------------------------------------------------------------------- memory


def _rss_mb(field_name: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in MB (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_probe(spec: str, threads: int, runs: int = MEMORY_PROBE_RUNS) -> dict:
    """In this (fresh) process: load ``spec``, run it, report peak memory.

    Returns:
        ``{"peak_mb", "baseline_mb", "delta_mb"}`` (None values off Linux).
    """
    variant = model_variant(spec)
    if variant.is_torch:
        _import_torch()
        import trainer.evaluate  # noqa: F401 - its imports belong to the baseline
    elif variant.runtime == "onnxruntime":
        import onnxruntime  # noqa: F401
    else:
        import ai_edge_litert.interpreter  # noqa: F401
    rgb = synthetic_frame(FRAME_SIZE, seed=0)
    try:  # reset the peak (VmHWM) to the current RSS: Linux clear_refs "5"
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    baseline = _rss_mb("VmRSS")
    runner = open_runner(variant, threads, rgb)
    for _ in range(runs):
        runner.run()
    peak = _rss_mb("VmHWM")
    delta = None if peak is None or baseline is None else peak - baseline
    return {"peak_mb": peak, "baseline_mb": baseline, "delta_mb": delta}


def measure_memory(spec: str, threads: int) -> dict:
    """:func:`memory_probe` in a child process (so models do not share a peak)."""
    cmd = [sys.executable, "-m", "benchmarks.latency", "--memory-probe", spec]
    cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LatencyError(f"memory probe of {spec} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- images


def synthetic_frame(size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> np.ndarray:
    """A seeded photo-like RGB frame (smooth colour fields + fine noise), H x W x 3 uint8."""
    w, h = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.int16)
    img = img + rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def query_frames(
    data: str | os.PathLike | None,
    count: int = 8,
    size: tuple[int, int] = FRAME_SIZE,
    seed: int = 0,
) -> list[bytes]:
    """JPEG camera frames of ``size``: phone photos from ``data`` (scaled and cropped to
    fill the frame), or synthetic frames without data. Seeded choice."""
    frames = []
    if data is not None:
        from mobile_sdk.dataset_layout import scan_dataset

        photos = [f for p in scan_dataset(data).products for f in p.photos]
        rng = np.random.default_rng(seed)
        picks = (
            rng.choice(len(photos), size=min(count, len(photos)), replace=False) if photos else []
        )
        for i in picks:
            with Image.open(photos[int(i)]) as im:
                img = im.convert("RGB")
            scale = max(size[0] / img.width, size[1] / img.height)
            img = img.resize(
                (math.ceil(img.width * scale), math.ceil(img.height * scale)), Image.BICUBIC
            )
            left, top = (img.width - size[0]) // 2, (img.height - size[1]) // 2
            frames.append(_jpeg(np.asarray(img.crop((left, top, left + size[0], top + size[1])))))
    while len(frames) < count:
        frames.append(_jpeg(synthetic_frame(size, seed + len(frames))))
    return frames


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# ----------------------------------------------------------------------------- benchmark


def model_latency(
    variants: Sequence[ModelVariant],
    threads: Sequence[int],
    runs: int,
    warmup: int,
    rgb: np.ndarray,
    memory: bool = True,
    progress: bool = True,
) -> list[LatencyResult]:
    """Interleaved model-stage timing of ``variants`` at each thread count, then (with
    ``memory``) one peak-memory probe process per (variant, threads)."""
    timed: dict[tuple[str, int], tuple[list[float], float]] = {}
    bar = tqdm(
        total=len(variants) * len(threads) * runs,
        desc="latency",
        unit="run",
        disable=not progress,
        leave=False,
    )
    for t in threads:
        bar.set_postfix_str(f"{t} thread{'s' if t > 1 else ''}")
        runners = {v.name: open_runner(v, t, rgb) for v in variants}
        try:
            times = time_interleaved(
                {name: r.run for name, r in runners.items()}, runs, warmup, on_run=bar.update
            )
        finally:
            for r in runners.values():
                r.close()
        for name, r in runners.items():
            timed[name, t] = (times[name], r.init_ms)
    bar.close()
    configs = [(v, t) for t in threads for v in variants]
    memories = {}
    if memory:
        for v, t in tqdm(
            configs, desc="peak memory", unit="process", disable=not progress, leave=False
        ):
            memories[v.name, t] = measure_memory(v.spec, t)
    results = []
    for v, t in configs:
        samples, init_ms = timed[v.name, t]
        mem = memories.get((v.name, t), {})
        results.append(
            LatencyResult(
                name=v.name,
                stage="model",
                runtime=v.runtime,
                precision=v.precision,
                threads=t,
                xnnpack=True if v.runtime == "LiteRT" else None,
                runs=runs,
                warmup=warmup,
                peak_memory_mb=mem.get("peak_mb"),
                memory_delta_mb=mem.get("delta_mb"),
                init_ms=init_ms,
                **summarize_ms(samples),
            )
        )
    return results


def end_to_end_latency(
    model: str | os.PathLike,
    threads: Sequence[int],
    runs: int,
    warmup: int,
    frames: Sequence[bytes],
    index_size: int = 100_000,
    k: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> list[LatencyResult]:
    """Decode + preprocess + embed + search, each stage timed, at each thread count.

    The index holds ``index_size`` seeded random unit vectors (int8, the app's
    default) under the model's fingerprint; search cost depends on the row count,
    not on the vectors.
    """
    from mobile_sdk.embedder import Embedder, EmbedderOptions
    from mobile_sdk.image_io import load_image
    from mobile_sdk.index import ProductIndex
    from mobile_sdk.preprocess import preprocess
    from mobile_sdk.product_search import ProductSearch

    model = Path(model)
    precision = model_variant(model).precision
    with Embedder.from_model_path(model) as probe:
        dim, fingerprint = probe.embedding_dim, probe.fingerprint
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((index_size, dim), np.float32)
    index = ProductIndex.from_arrays(
        [f"p{i:07d}" for i in range(index_size)], vectors, fingerprint, "int8"
    )
    del vectors
    w, h = Image.open(io.BytesIO(frames[0])).size
    # numpy's BLAS threads (the search) are fixed when numpy loads: 'deepproduct bench'
    # sets one before that; say what this process has
    blas_note = f"numpy BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'all cores')}"
    labels = {
        "decode": f"decode JPEG {w}x{h}",
        "preprocess": f"preprocess {w}x{h}",
        "embed": f"embed ({model.name})",
        "search": f"search {index_size:,} rows int8, k={k}",
        "end-to-end": "photo -> top-5 products",
    }
    results = []
    bar = tqdm(
        total=len(threads) * runs,
        desc="end to end",
        unit="query",
        disable=not progress,
        leave=False,
    )
    for t in threads:
        with Embedder.from_model_path(model, EmbedderOptions(num_threads=t)) as embedder:
            # the app's pairing (model and index checked once); its steps are timed apart
            search = ProductSearch(embedder, index)
            config = embedder.metadata.preprocess
            stages: dict[str, list[float]] = {s: [] for s in labels}
            for i in range(warmup + runs):
                frame = frames[i % len(frames)]
                t0 = time.perf_counter()
                rgb = load_image(frame)
                t1 = time.perf_counter()
                x = preprocess(rgb, config)
                t2 = time.perf_counter()
                v = search.embedder.embed_input(x[None])[0]
                t3 = time.perf_counter()
                search.index.search(v, k=k)
                t4 = time.perf_counter()
                if i < warmup:
                    continue
                for stage, dt in zip(
                    labels, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True
                ):
                    stages[stage].append(dt * 1e3)
                bar.update()
        for stage, label in labels.items():
            results.append(
                LatencyResult(
                    note=blas_note if stage in ("search", "end-to-end") else "",
                    name=label,
                    stage=stage,
                    runtime="LiteRT" if stage in ("embed", "end-to-end") else "numpy/Pillow",
                    precision=precision if stage in ("embed", "end-to-end") else None,
                    threads=t,
                    xnnpack=True if stage in ("embed", "end-to-end") else None,
                    runs=runs,
                    warmup=warmup,
                    **summarize_ms(stages[stage]),
                )
            )
    bar.close()
    return results


def run_latency(
    models: Sequence[str | os.PathLike],
    threads: Sequence[int] = (1, 2, 4),
    runs: int = 50,
    warmup: int = 10,
    memory: bool = True,
    end_to_end_model: str | os.PathLike | None = None,
    index_size: int = 100_000,
    data: str | os.PathLike | None = None,
    progress: bool = True,
) -> LatencyReport:
    """The host latency report: every model side by side, targets, end to end.

    Args:
        models: exported files, ``.pt`` checkpoints and/or ``"pretrained"``.
        threads: thread counts to time at.
        runs, warmup: timed and untimed runs per (model, threads).
        memory: also measure each model's peak memory (one child process each).
        end_to_end_model: time the full search path with this exported model
            (None: skip).
        index_size: rows of the end-to-end index.
        data: dataset root whose phone photos become the query frames (None:
            synthetic frames).
        progress: show progress bars.

    Raises:
        LatencyError, ModelMetadataError, EmbedderError: a model cannot be loaded.
        ValueError: bad runs / warm-up / threads.
    """
    if runs < 1 or warmup < 0 or not threads or min(threads) < 1:
        raise ValueError(
            f"need runs >= 1, warmup >= 0, threads >= 1; got {runs}, {warmup}, {threads}"
        )
    variants = _unique_names([model_variant(m) for m in models])
    frames = query_frames(data)
    rgb = np.asarray(Image.open(io.BytesIO(frames[0])).convert("RGB"))
    machine = describe_machine()
    results = model_latency(variants, threads, runs, warmup, rgb, memory, progress)
    if end_to_end_model is not None:
        results += end_to_end_latency(
            end_to_end_model, threads, runs, warmup, frames, index_size, progress=progress
        )
    from benchmarks.schema import check_targets

    settings = {
        "runs": runs,
        "warmup": warmup,
        "threads": list(threads),
        "interleaved_block": 5,
        "frame": f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]} JPEG "
        + (f"made from phone photos of {data}" if data else "(synthetic, no --data)"),
        "models": [str(v.spec) for v in variants],
        "end_to_end_model": str(end_to_end_model) if end_to_end_model else None,
        "index_size": index_size if end_to_end_model else None,
        "memory_probe_runs": MEMORY_PROBE_RUNS if memory else None,
    }
    return LatencyReport(
        "host", machine, results, check_targets(results, DEFAULT_TARGETS), settings
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Internal entry point of the memory probe child process."""
    parser = argparse.ArgumentParser(description="memory probe (internal)")
    parser.add_argument("--memory-probe", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(memory_probe(args.memory_probe, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
