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
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.yardstick import GROUPS, run_folder
from benchmarks.yardstick_folds import make_fold, query_groups, rank_groups
from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.catalog_index import check_extra_crops
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import DeepProductError, run_reporting_errors
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
    """Label of the index with these extra crops, e.g. ``+crop 1.0``."""
    return "+crop " + ",".join(f"{c:g}" for c in extra_crops)


def score_run(
    run: Path, fold_index: int, data: Dataset, val: Dataset | None, extra: tuple[float, ...]
) -> dict[str, dict[str, dict]]:
    """``{index name: {group: metrics}}`` for one trained run; cached in the run folder."""
    cache = run / "index_views.json"
    name = view_name(extra)
    record = json.loads(cache.read_text()) if cache.exists() else {}
    if BASE in record and name in record:
        return {BASE: record[BASE], name: record[name]}
    model_file = run / "model.pt"
    if not model_file.exists():
        raise DeepProductError(f"{model_file}: no trained model (run benchmarks/yardstick.py)")
    model = load_model(model_file).eval()
    groups = query_groups(data, val, make_fold(data, fold_index))
    files, ids = data.gallery()
    base = embed_files(model, files, desc="catalog")
    views = [embed_files(CroppedAt(model, c), files, desc=f"catalog {c:g}") for c in extra]
    galleries = {BASE: base, name: np.concatenate([base, *views])}
    queries: dict[str, np.ndarray] = {}  # each group embedded once, for both indexes

    def embed_group(files: list[Path], group: str) -> np.ndarray:
        if group not in queries:
            queries[group] = embed_files(model, files, desc=group)
        return queries[group]

    scored = {}
    for label, gallery in galleries.items():
        # rank_groups takes one id list per call: the ids repeat once per view
        gallery_ids = list(ids) * (len(gallery) // len(ids))
        scored.update(rank_groups(embed_group, {label: gallery}, gallery_ids, groups))
    record.update(scored)
    write_text_atomic(cache, json.dumps(record, indent=2) + "\n")
    return scored


def report(results: list[tuple[str, int, dict]], extra: tuple[float, ...]) -> str:
    """Markdown: top-1 per run for both indexes, and the paired differences."""
    name = view_name(extra)
    lines = [
        f"| recipe | fold | index | {' | '.join(GROUPS)} |",
        "|---|---|---|" + "---|" * len(GROUPS),
    ]
    diffs: dict[str, list[float]] = {g: [] for g in GROUPS}
    for recipe, fold, scores in results:
        for label in (BASE, name):
            cells = [
                f"{scores[label][g]['top1']:.3f}" if g in scores[label] else "—" for g in GROUPS
            ]
            lines.append(f"| {recipe} | {fold} | {label} | {' | '.join(cells)} |")
        for g in GROUPS:
            if g in scores[BASE]:
                diffs[g].append(100 * (scores[name][g]["top1"] - scores[BASE][g]["top1"]))

    def cell(values: list[float]) -> str:
        if len(values) < 2:
            return f"{values[0]:+.1f}" if values else "—"
        up = sum(v > 0 for v in values)
        sd = statistics.stdev(values)
        return f"{statistics.mean(values):+.1f} ± {sd:.1f} ({up}/{len(values)} up)"

    lines += [
        "",
        f"Top-1 points, {name} minus the model's crop alone, mean ± sd over {len(results)} runs:",
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
    p.add_argument("--out", help="markdown report (default: RUNS/index_views.md)")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    extra = check_extra_crops(args.extra_crops)
    data = scan_dataset(args.data)
    val = scan_dataset(args.val) if args.val else None
    results = []
    for recipe in args.recipes:
        for fold in args.folds:
            scores = score_run(run_folder(Path(args.runs), recipe, fold), fold, data, val, extra)
            results.append((recipe, fold, scores))
    text = report(results, extra)
    out = Path(args.out) if args.out else Path(args.runs) / "index_views.md"
    write_text_atomic(out, text)
    print(text + f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
