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

End to end: a JPEG camera frame (1280 x 960) and a 12 MP photo (4032 x 3024) go to the
top-5 of an int8 index of 100,000 products (random vectors with the model's fingerprint)
through ``ProductSearch.search``, the public API, and each stage is timed separately in
the same loop; the end-to-end row carries its ratio to the embed time.

The model variants and their runners are in ``benchmarks.variants``, the query frames in
``benchmarks.frames``, the memory probe in ``benchmarks.memory_probe``.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmarks.frames import FRAME_SIZE, query_frames
from benchmarks.machine import describe_machine
from benchmarks.memory_probe import MEMORY_PROBE_RUNS, measure_memory
from benchmarks.schema import DEFAULT_TARGETS, LatencyReport, LatencyResult, summarize_ms
from benchmarks.variants import ModelVariant, model_variant, open_runner, unique_names

# End-to-end query frames: (width, height, how many), a camera frame and a 12 MP photo
E2E_FRAMES = ((FRAME_SIZE[0], FRAME_SIZE[1], 8), (4032, 3024, 2))


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
    frames: Sequence[bytes] | dict[str, Sequence[bytes]],
    index_size: int = 100_000,
    k: int = 5,
    seed: int = 0,
    progress: bool = True,
    approx: bool = False,
) -> list[LatencyResult]:
    """Photo -> top-k through the public API, and each stage of it, per frame size and threads.

    The ``end-to-end`` row times one ``ProductSearch.search(jpeg_bytes, k)`` call, the
    path ``deepproduct search`` and the apps take (reduced-scale decoding included);
    the stage rows time the same steps one by one in the same loop: ``load_image`` as
    ``preprocess`` calls it, ``preprocess`` of the decoded pixels, ``embed_input``,
    ``ProductIndex.search``. The end-to-end row's note gives its ratio to the embed
    row of the same run.

    ``frames``: JPEG frames of one size, or a dict of them per size label. The index
    holds ``index_size`` seeded random unit vectors (int8, the app's default) under the
    model's fingerprint; search cost depends on the row count, not on the vectors.

    ``approx``: also build the approximate (HNSW) index over that index (the ``approx``
    extra; default settings, all cores) and time, in the same loop, its ``search`` and
    ``ProductSearch.search`` through it: two more rows labelled "HNSW". Random rows are
    harder for a graph than real embeddings, so these times are on the high side.
    """
    from mobile_sdk.embedder import Embedder, EmbedderOptions
    from mobile_sdk.image_io import draft_scale, load_image
    from mobile_sdk.index import ProductIndex
    from mobile_sdk.preprocess import preprocess
    from mobile_sdk.product_search import ProductSearch

    model = Path(model)
    precision = model_variant(model).precision
    with Embedder.from_model_path(model) as probe:
        dim, fingerprint = probe.embedding_dim, probe.fingerprint
        short_side = probe.metadata.preprocess.resized_short_side()
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((index_size, dim), np.float32)
    index = ProductIndex.from_arrays(
        [f"p{i:07d}" for i in range(index_size)], vectors, fingerprint, "int8"
    )
    del vectors
    scratch = tempfile.TemporaryDirectory(prefix="deepproduct-e2e-") if approx else None
    graph = None
    if scratch is not None:
        from mobile_sdk.approx_index import ApproxIndex, build_approx_index

        index.save(Path(scratch.name) / "e2e.dpi")
        saved = ProductIndex.load(Path(scratch.name) / "e2e.dpi")
        build_approx_index(saved, Path(scratch.name) / "e2e.hnsw", progress=progress)
        graph = ApproxIndex.load(Path(scratch.name) / "e2e.hnsw", saved)
    by_size = dict(frames) if isinstance(frames, dict) else {"": list(frames)}
    # numpy's BLAS threads are fixed when numpy loads: 'deepproduct bench' sets one
    # before that; say what this process has
    blas_note = f"numpy BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'all cores')}"
    results = []
    bar = tqdm(
        total=len(threads) * runs * len(by_size),
        desc="end to end",
        unit="query",
        disable=not progress,
        leave=False,
    )
    for t in threads:
        with Embedder.from_model_path(model, EmbedderOptions(num_threads=t)) as embedder:
            # the app's pairing (model and index checked once)
            search = ProductSearch(embedder, index)
            graph_search = ProductSearch(embedder, graph) if graph is not None else None
            config = embedder.metadata.preprocess
            for sized_frames in by_size.values():
                w, h = Image.open(io.BytesIO(sized_frames[0])).size
                d = draft_scale(w, h, short_side)
                labels = {
                    "decode": f"decode JPEG {w}x{h}" + (f" at 1/{d} scale" if d > 1 else ""),
                    "preprocess": f"preprocess {-(-w // d)}x{-(-h // d)}",
                    "embed": f"embed ({model.name})",
                    "search": f"search {index_size:,} rows int8, k={k}",
                    "end-to-end": f"photo {w}x{h} -> top-{k} (ProductSearch.search)",
                }
                graph_labels = {
                    "search": f"search {index_size:,} rows int8 HNSW, k={k}",
                    "end-to-end": f"photo {w}x{h} -> top-{k} (ProductSearch.search, HNSW)",
                }
                graph_stages: dict[str, list[float]] = {s: [] for s in graph_labels}
                stages: dict[str, list[float]] = {s: [] for s in labels}
                for i in range(warmup + runs):
                    frame = sized_frames[i % len(sized_frames)]
                    t0 = time.perf_counter()
                    rgb = load_image(frame, min_short_side=short_side)
                    t1 = time.perf_counter()
                    x = preprocess(rgb, config)
                    t2 = time.perf_counter()
                    v = search.embedder.embed_input(x[None])[0]
                    t3 = time.perf_counter()
                    staged = search.index.search(v, k=k)
                    t4 = time.perf_counter()
                    public = search.search(frame, k=k)
                    t5 = time.perf_counter()
                    if public != staged:
                        raise AssertionError("ProductSearch.search differs from its stages")
                    if graph_search is not None:
                        t6 = time.perf_counter()
                        graph_search.index.search(v, k=k)
                        t7 = time.perf_counter()
                        graph_search.search(frame, k=k)
                        t8 = time.perf_counter()
                        if i >= warmup:
                            graph_stages["search"].append((t7 - t6) * 1e3)
                            graph_stages["end-to-end"].append((t8 - t7) * 1e3)
                    if i < warmup:
                        continue
                    for stage, dt in zip(
                        labels, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True
                    ):
                        stages[stage].append(dt * 1e3)
                    bar.update()
                embed_p50 = float(np.median(stages["embed"]))
                rows = [(stage, label, stages[stage]) for stage, label in labels.items()]
                rows += [(st, label, graph_stages[st]) for st, label in graph_labels.items()]
                for stage, label, samples in rows:
                    if not samples:
                        continue
                    note = blas_note if stage == "search" else ""
                    if stage == "end-to-end":
                        ratio = float(np.median(samples)) / embed_p50
                        note = f"{ratio:.2f}x embed (p50, same run); {blas_note}"
                    results.append(
                        LatencyResult(
                            note=note,
                            name=label,
                            stage=stage,
                            runtime="LiteRT"
                            if stage in ("embed", "end-to-end")
                            else "numpy/Pillow",
                            precision=precision if stage in ("embed", "end-to-end") else None,
                            threads=t,
                            xnnpack=True if stage in ("embed", "end-to-end") else None,
                            runs=runs,
                            warmup=warmup,
                            **summarize_ms(samples),
                        )
                    )
    bar.close()
    if scratch is not None:
        scratch.cleanup()
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
    approx: bool = False,
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
        approx: also time the end-to-end search through an HNSW index over it.
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
    variants = unique_names([model_variant(m) for m in models])
    frames = query_frames(data)
    rgb = np.asarray(Image.open(io.BytesIO(frames[0])).convert("RGB"))
    e2e_frames = {f"{w}x{h}": query_frames(data, count=n, size=(w, h)) for w, h, n in E2E_FRAMES}
    machine = describe_machine()
    results = model_latency(variants, threads, runs, warmup, rgb, memory, progress)
    if end_to_end_model is not None:
        results += end_to_end_latency(
            end_to_end_model,
            threads,
            runs,
            warmup,
            e2e_frames,
            index_size,
            progress=progress,
            approx=approx,
        )
    from benchmarks.schema import check_targets

    settings = {
        "runs": runs,
        "warmup": warmup,
        "threads": list(threads),
        "interleaved_block": 5,
        "end_to_end_frames": [f"{w}x{h}" for w, h, _ in E2E_FRAMES],
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
