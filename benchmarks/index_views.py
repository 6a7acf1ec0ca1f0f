"""Extra catalog views at index time, scored on the yardstick's trained runs.

``deepproduct index --extra-crop F`` indexes each catalog image a second time with the
centre crop F instead of the model's (1.0: the whole image); a product scores its best
row. This scores that change on the runs ``benchmarks/yardstick.py`` trained (their
``model.pt``, PyTorch float32, the runtime's preprocessing), with no training: each
group's queries against the whole catalog indexed at the model's crop only, and at the
model's crop plus the extra crops. Per run it caches ``index_views.json`` in the run
folder; the report gives every run and the paired differences, mean ± sd::

    python -m benchmarks.index_views --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --runs runs/yardstick \\
        --recipes plain plain+memory+catalog-views+288 --folds 0 1 2 3 --extra-crops 1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.yardstick import GROUPS, fold_folder, run_folder
from benchmarks.yardstick_folds import make_fold, query_groups, rank_groups
from benchmarks.yardstick_int8 import export_run
from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.catalog_index import check_extra_crops
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.embedder import Embedder
from mobile_sdk.errors import DeepProductError, run_reporting_errors
from mobile_sdk.evaluate import embed_files as embed_runtime
from trainer.evaluate import embed_files
from trainer.model import load_model

BASE = "model's crop"


class CroppedAt(nn.Module):
    """``model`` with its preprocessing's centre crop set to ``crop_fraction``."""

    def __init__(self, model: nn.Module, crop_fraction: float):
        super().__init__()
        self.model = model
        self.preprocess = dataclasses.replace(model.preprocess, crop_fraction=crop_fraction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def view_name(extra_crops: tuple[float, ...]) -> str:
    """Label of the index with these extra crops, e.g. ``+crop 1`` or ``+crop 1,0.7``."""
    return "+crop " + ",".join(f"{c:g}" for c in extra_crops)


# (files, crop fraction or None for the model's, progress label) -> (N, D) float32
Embed = Callable[[list[Path], "float | None", str], np.ndarray]


def score_run(
    run: Path,
    fold_index: int,
    data: Dataset,
    val: Dataset | None,
    extra: tuple[float, ...],
    int8: bool = False,
) -> dict[str, dict[str, dict]]:
    """``{index name: {group: metrics}}`` for one trained run; cached in the run folder.

    ``int8``: through the run's int8 ``dist/model.tflite`` and the runtime's embedder
    (exported first when missing, as ``benchmarks/yardstick.py --int8`` does), instead
    of its PyTorch float32 ``model.pt``; the names then start with ``int8 ``.
    """
    cache = run / "index_views.json"
    prefix = "int8 " if int8 else ""
    base_name, name = prefix + BASE, prefix + view_name(extra)
    record = json.loads(cache.read_text()) if cache.exists() else {}
    if base_name in record and name in record:
        return {base_name: record[base_name], name: record[name]}
    model_file = run / "model.pt"
    if not model_file.exists():
        raise DeepProductError(f"{model_file}: no trained model (run benchmarks/yardstick.py)")
    groups = query_groups(data, val, make_fold(data, fold_index))
    files, ids = data.gallery()
    with ExitStack() as stack:
        if int8:
            model_path = export_run(run, fold_folder(run.parent.parent, fold_index))
            embedder = stack.enter_context(Embedder.from_model_path(model_path))
            embed: Embed = functools.partial(_embed_runtime, embedder)
        else:
            embed = functools.partial(_embed_torch, load_model(model_file).eval())
        base = embed(files, None, "catalog")
        views = [embed(files, c, f"catalog {c:g}") for c in extra]
        galleries = {base_name: base, name: np.concatenate([base, *views])}
        queries: dict[str, np.ndarray] = {}  # each group embedded once, for both indexes

        def embed_group(group_files: list[Path], group: str) -> np.ndarray:
            if group not in queries:
                queries[group] = embed(group_files, None, group)
            return queries[group]

        scored = {}
        for label, gallery in galleries.items():
            # rank_groups takes one id list per call: the ids repeat once per view
            gallery_ids = list(ids) * (len(gallery) // len(ids))
            scored.update(rank_groups(embed_group, {label: gallery}, gallery_ids, groups))
    record.update(scored)
    write_text_atomic(cache, json.dumps(record, indent=2) + "\n")
    return scored


def _embed_torch(model: nn.Module, files: list[Path], crop: float | None, desc: str) -> np.ndarray:
    return embed_files(model if crop is None else CroppedAt(model, crop), files, desc=desc)


def _embed_runtime(
    embedder: Embedder, files: list[Path], crop: float | None, desc: str
) -> np.ndarray:
    return embed_runtime(embedder, files, desc=f"{desc} int8", crop_fraction=crop).astype(
        np.float32
    )


def report(results: list[tuple[str, int, dict]]) -> str:
    """Markdown: top-1 per run for both indexes, and the paired differences.

    Args:
        results: ``(recipe, fold, scores)`` with ``scores`` as :func:`score_run` returns
            it: the one-row index first, then the one with the extra views.
    """
    lines = [
        f"| recipe | fold | index | {' | '.join(GROUPS)} |",
        "|---|---|---|" + "---|" * len(GROUPS),
    ]
    diffs: dict[str, list[float]] = {g: [] for g in GROUPS}
    for recipe, fold, scores in results:
        base, views = list(scores)
        for label in (base, views):
            cells = [
                f"{scores[label][g]['top1']:.3f}" if g in scores[label] else "—" for g in GROUPS
            ]
            lines.append(f"| {recipe} | {fold} | {label} | {' | '.join(cells)} |")
        for g in GROUPS:
            if g in scores[base]:
                diffs[g].append(100 * (scores[views][g]["top1"] - scores[base][g]["top1"]))

    def cell(values: list[float]) -> str:
        if len(values) < 2:
            return f"{values[0]:+.1f}" if values else "—"
        up = sum(v > 0 for v in values)
        sd = statistics.stdev(values)
        return f"{statistics.mean(values):+.1f} ± {sd:.1f} ({up}/{len(values)} up)"

    names = list(results[0][2]) if results else [BASE, "views"]
    lines += [
        "",
        f"Top-1 points, {names[1]} minus {names[0]} alone, mean ± sd over {len(results)} runs:",
        "",
        f"| {' | '.join(GROUPS)} |",
        "|" + "---|" * len(GROUPS),
        f"| {' | '.join(cell(diffs[g]) for g in GROUPS)} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the yardstick's training dataset root")
    p.add_argument("--val", help="validation photos of the same catalog (seen queries)")
    p.add_argument("--runs", required=True, help="the yardstick's --out folder")
    p.add_argument("--recipes", nargs="+", required=True, help="rows of the yardstick")
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--extra-crops", type=float, nargs="+", default=[1.0])
    p.add_argument(
        "--int8",
        action="store_true",
        help="score each run's int8 dist/model.tflite through the runtime (exported first "
        "when missing, about 2 minutes a run) instead of its float32 model.pt",
    )
    p.add_argument(
        "--out", help="markdown report (default: RUNS/index_views.md, or index_views_int8.md)"
    )
    args = p.parse_args(argv)
    extra = check_extra_crops(args.extra_crops)
    data = scan_dataset(args.data)
    val = scan_dataset(args.val) if args.val else None
    results = []
    for recipe in args.recipes:
        for fold in args.folds:
            run = run_folder(Path(args.runs), recipe, fold)
            results.append((recipe, fold, score_run(run, fold, data, val, extra, args.int8)))
    text = report(results)
    default = "index_views_int8.md" if args.int8 else "index_views.md"
    out = Path(args.out) if args.out else Path(args.runs) / default
    write_text_atomic(out, text)
    print(text + f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
