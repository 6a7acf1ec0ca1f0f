"""The retrieval yardstick: seen, catalog-only and unseen products, each query ranked
against the whole catalog, mean ± sd over folds.

Each fold trains on the products and photos ``benchmarks/yardstick_folds.py`` leaves
in (8 photo products reduced to their catalog image, 8 removed, 1 photo in 5 of the
rest held out), then scores three groups of queries against every catalog image of
``--data``:

- seen: the held-out photos of trained products, plus their ``--val`` photos;
- catalog-only: every photo of the products trained from their catalog image alone;
- unseen: every photo of the products left out entirely.

Runs live in ``OUT/<recipe>/fold<k>/`` and resume where they stopped (training
resumes from its last epoch; a finished run's ``eval.json`` is reused), so the
command can be run again in a later session to add rows or folds::

    python benchmarks/yardstick.py --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --out runs/yardstick \\
        --recipes pretrained head-only plain robust+distill --folds 0 1

Besides the training recipes of ``trainer/recipes.py`` it knows ``pretrained``
(un-tuned ImageNet features) and ``head-only`` (frozen backbone, fitted projection).
The report (``OUT/yardstick.md``) is PyTorch float32; with ``--int8`` each trained run
is also exported to int8 ``model.tflite`` and scored through the runtime
(``benchmarks/yardstick_int8.py``), as the row ``<recipe> @int8 model.tflite``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.eval_variants import FLIP_INDEX, WEIGHTS, FlipAveraged, weights_model
from benchmarks.yardstick_folds import make_fold, query_groups, rank_groups, write_fold_dataset
from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import run_reporting_errors
from trainer.evaluate import embed_files, load_eval_model
from trainer.head_only import train_head_only
from trainer.recipes import RECIPES, recipe_config
from trainer.train import train

BASELINES = ("pretrained", "head-only")
GROUPS = ("seen", "seen-val", "catalog-only", "unseen")


def score_model(
    model: torch.nn.Module, data: Dataset, groups: dict[str, list[Path]], flip_index: bool = False
) -> dict:
    """Top-1/top-5/mAP per query group, every query ranked against all of ``data``'s
    catalog images; with ``flip_index`` also against flip-averaged catalog views.

    Returns:
        ``{group: metrics}``, and with ``flip_index`` ``{"": {...}, FLIP_INDEX: {...}}``.
    """
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    gallery_files, gallery_ids = data.gallery()
    galleries = {"": embed_files(model, gallery_files, desc="catalog")}
    if flip_index:
        galleries[FLIP_INDEX] = embed_files(FlipAveraged(model), gallery_files, desc="flipped")
    out = rank_groups(
        lambda files, name: embed_files(model, files, desc=name), galleries, gallery_ids, groups
    )
    return out if flip_index else out[""]


def run_folder(out: Path, recipe: str, fold_index: int) -> Path:
    """Where ``run_fold`` keeps one recipe's run on one fold (``eval.json`` inside)."""
    return out / recipe.replace("+", "_") / f"fold{fold_index}"


def fold_folder(out: Path, fold_index: int) -> Path:
    """Where ``run_fold`` writes one fold's training set (its runs' calibration data)."""
    return out / "folds" / f"fold{fold_index}"


def run_fold(
    recipe: str,
    fold_index: int,
    data: Dataset,
    val: Dataset | None,
    out: Path,
    overrides: dict,
    variants: bool = False,
    int8: bool = False,
) -> dict:
    """Train (or resume) ``recipe`` on one fold and score it; cached in ``eval.json``.

    With ``variants`` the run's no-training variants (WiSE-FT, flipped catalog views)
    are scored too, as extra rows (about 4 minutes a fold on 2 cores); with ``int8`` its
    exported int8 ``model.tflite`` (about 2 minutes a fold)."""
    run = run_folder(out, recipe, fold_index)
    result_file = run / "eval.json"
    fold = make_fold(data, fold_index)
    groups = query_groups(data, val, fold)
    fold_dir = fold_folder(out, fold_index)
    if result_file.exists():
        record = json.loads(result_file.read_text())
        missing = [g for g, files in groups.items() if files and g not in record]
        if missing:  # a group added after the run was scored: score the saved model again
            spec = "pretrained" if recipe == "pretrained" else str(run / "model.pt")
            record.update(score_model(load_eval_model(spec), data, groups))
            write_text_atomic(result_file, json.dumps(record, indent=2) + "\n")
        return _extra_rows(record, recipe, run, fold_dir, data, groups, variants, int8)
    train_dir = write_fold_dataset(data, fold, fold_dir)
    t0 = time.time()
    if recipe == "pretrained":
        model_spec = "pretrained"
    elif recipe == "head-only":
        model_spec = str(train_head_only(str(train_dir), str(run), seed=fold_index))
    else:
        # the training seed is the fold index, plus the seed a --set gives
        seed = overrides.get("seed", 0) + fold_index
        fields = {**overrides, "data": str(train_dir), "out": str(run), "seed": seed}
        cfg = recipe_config(recipe, **fields)
        train(cfg, resume=True)
        model_spec = str(run / "model.pt")
    history = run / "history.json"
    train_s = (
        sum(e.get("seconds", 0) for e in json.loads(history.read_text()))
        if history.exists()
        else time.time() - t0
    )
    model = load_eval_model(model_spec)
    record = {
        "recipe": recipe,
        "fold": fold_index,
        "train_seconds": round(train_s),
        "overrides": overrides,
        **score_model(model, data, groups),
    }
    write_text_atomic(result_file, json.dumps(record, indent=2) + "\n")
    return _extra_rows(record, recipe, run, fold_dir, data, groups, variants, int8)


def _extra_rows(
    record: dict,
    recipe: str,
    run: Path,
    fold_dir: Path,
    data: Dataset,
    groups: dict[str, list[Path]],
    variants: bool,
    int8: bool,
) -> dict:
    """Add the requested no-training variants and the int8 export's scores to ``record``."""
    if recipe in BASELINES:
        return record
    result_file = run / "eval.json"
    if variants:
        record = _add_variants(record, run, data, groups, result_file)
    if int8:
        # imported here: the export extra (converters, quantizer) is needed only with --int8
        from benchmarks.yardstick_int8 import INT8, score_int8

        if INT8 not in record.get("variants", {}):
            record.setdefault("variants", {})[INT8] = score_int8(run, fold_dir, data, groups)
            write_text_atomic(result_file, json.dumps(record, indent=2) + "\n")
    return record


def _add_variants(
    record: dict, run: Path, data: Dataset, groups: dict[str, list[Path]], result_file: Path
) -> dict:
    """Score the run's no-training variants (``eval_variants``) missing from ``record``."""
    variants = record.setdefault("variants", {})
    for weights in WEIGHTS:
        flipped = f"{weights}+{FLIP_INDEX}" if weights else FLIP_INDEX
        if all(n in variants for n in (weights, flipped) if n):
            continue
        scores = score_model(weights_model(run, weights), data, groups, flip_index=True)
        variants[flipped] = scores[FLIP_INDEX]
        if weights:
            variants[weights] = scores[""]
        write_text_atomic(result_file, json.dumps(record, indent=2) + "\n")
    return record


def _cell(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) > 1:
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    return f"{values[0]:.3f}"


def _entries(rows: list[dict]) -> list[dict]:
    """One entry per (row label, fold): each run, then each of its no-training variants."""
    out = []
    for r in rows:
        out.append({**r, "label": r["recipe"]})
        for name, scores in r.get("variants", {}).items():
            # a variant's own groups only (one scored before a group existed lacks it)
            base = {k: v for k, v in r.items() if k not in GROUPS}
            out.append({**base, **scores, "label": f"{r['recipe']} @{name}"})
    return out


def report(rows: list[dict]) -> str:
    """Markdown: top-1 per group, mean ± sd over folds, with per-fold values."""
    lines = [
        "| recipe | folds | seen top-1 | seen (val) top-1 | catalog-only top-1 | unseen top-1 "
        "| per fold (seen / val / cat-only / unseen) | train min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    entries = _entries(rows)
    for label in dict.fromkeys(e["label"] for e in entries):
        runs = [e for e in entries if e["label"] == label]
        cells = [_cell([r[g]["top1"] for r in runs if g in r]) for g in GROUPS]
        per_fold = "; ".join(
            " / ".join(f"{r[g]['top1']:.3f}" if g in r else "—" for g in GROUPS) for r in runs
        )
        minutes = statistics.mean(r["train_seconds"] for r in runs) / 60
        lines.append(
            f"| {label} | {' '.join(str(r['fold']) for r in runs)} | {' | '.join(cells)} "
            f"| {per_fold} | {minutes:.1f} |"
        )
    counts = rows[0] if rows else {}
    queries = ", ".join(f"{g} {counts[g]['queries']}" for g in GROUPS if g in counts)
    lines += [
        "",
        f"Queries in fold {counts.get('fold')}: {queries}; catalog: "
        f"{counts.get('seen', {}).get('products')} products. "
        "Variants (@...) are scored from the same runs without training "
        "(benchmarks/eval_variants.py).",
    ]
    return "\n".join(lines) + "\n"


def _override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)  # numbers, true/false, null
    except json.JSONDecodeError:
        parsed = value  # a word: a string setting
    return key.replace("-", "_"), parsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="training dataset root (catalog/, photos/)")
    p.add_argument("--val", help="validation photos of the same catalog (seen queries)")
    p.add_argument("--out", default="runs/yardstick", help="runs and report (resumable)")
    p.add_argument(
        "--recipes",
        nargs="+",
        default=[
            "pretrained",
            "head-only",
            "robust+distill",
            "plain",
            "plain+memory",
            "plain+memory+catalog-views",
            "plain+memory+catalog-views+288",
        ],
        choices=[*BASELINES, *RECIPES],
        help="rows of the report (default: %(default)s)",
    )
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1], help="default: %(default)s")
    p.add_argument(
        "--set",
        type=_override,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field of every trained recipe (e.g. epochs=4); the "
        "run folder gets a suffix naming it. seed=S trains fold k with seed S + k (a "
        "repeat of every fold with other random draws)",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="also score each run's WiSE-FT and flipped-catalog variants (not consistent "
        "across folds in session 8, so off by default)",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="also export each trained run to int8 model.tflite and score it through the "
        "runtime (the shipped form of the recipe)",
    )
    args = p.parse_args(argv)
    data = scan_dataset(args.data, check_images=True)
    val = scan_dataset(args.val, require_photos=True) if args.val else None
    overrides = dict(args.set)
    out = Path(args.out)
    rows = []
    for recipe in args.recipes:
        for k in args.folds:
            given = overrides if recipe not in BASELINES else {}
            row = run_fold(
                recipe, k, data, val, out / suffix(given), given, args.variants, args.int8
            )
            rows.append(row)
            print(
                f"{recipe} fold {k}: "
                + ", ".join(f"{g} {row[g]['top1']:.3f}" for g in GROUPS if g in row),
                file=sys.stderr,
                flush=True,
            )
    text = report(rows)
    write_text_atomic(out / "yardstick.md", text)
    print(text)
    return 0


def suffix(overrides: dict) -> str:
    """The sub-folder of OUT for the runs of one set of --set overrides."""
    return ",".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "."


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
