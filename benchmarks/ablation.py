"""The issue-2 ablation: which parts of DeepProduct's training buy accuracy.

Variants, all evaluated on ``--val`` (same products, unseen photos):

- ``pretrained``: un-tuned ImageNet features;
- ``head-only``: frozen backbone, one trained linear projection (softmax over the catalog)
  of the pooled head features (the classic baseline);
- ``head-only+mid``: the same projection reading what the shipped model's projection
  reads (pooled head + pooled penultimate block, ``ModelConfig.mid_features``);
- ``contrastive``: full fine-tuning, plain contrastive loss, no multitask term;
- ``robust``: full fine-tuning, robust contrastive loss, no multitask term;
- ``robust+multitask``: the shipped default (robust contrastive + distillation).

With ``--split`` the same variants are also trained on a product-disjoint split of
``--data`` and evaluated on the held-out products (products never seen in training).

Each run lives in ``OUT/<variant>`` (``OUT/<variant>_seed<k>`` for seeds other than 0)
and resumes where it stopped, so the ablation can be spread over several sessions: just
run the same command again. One seed's val top-1 moves by about 2-3 points between
seeds (223 queries), so ``--seeds 0 1 2`` reports each trained variant's mean and
spread over several training seeds.

    python benchmarks/ablation.py --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --out runs/ablation [--split] [--only robust] \\
        [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import run_reporting_errors
from trainer.dataset_split import split_products
from trainer.evaluate import evaluate_model, load_eval_model
from trainer.head_only import train_head_only
from trainer.recipes import ROBUST_DISTILL
from trainer.train import TrainConfig, train

FULL = {
    "contrastive": {**ROBUST_DISTILL, "loss": "contrastive", "multitask": "none"},
    "robust": {**ROBUST_DISTILL, "multitask": "none"},
    "robust+multitask": ROBUST_DISTILL,
}
VARIANTS = ["pretrained", "head-only", "head-only+mid", *FULL]


def run_variant(name: str, data: str, val: str, out: Path, epochs: int, seed: int = 0) -> dict:
    """Train (or resume) one variant and evaluate it; cached in ``out/name/eval.json``."""
    run = out / (name.replace("+", "_") + (f"_seed{seed}" if seed else ""))
    result_file = run / "eval.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    t0 = time.time()
    if name == "pretrained":
        model_spec = "pretrained"
    elif name in ("head-only", "head-only+mid"):
        model_spec = str(
            train_head_only(data, str(run), seed=seed, mid_features=name == "head-only+mid")
        )
    else:
        cfg = TrainConfig(data=data, out=str(run), val=val, epochs=epochs, seed=seed, **FULL[name])
        train(cfg, resume=True)
        model_spec = str(run / "model.pt")
    train_s = time.time() - t0
    metrics = evaluate_model(load_eval_model(model_spec), scan_dataset(val, require_photos=True))
    history = run / "history.json"
    record = {
        "variant": name,
        "seed": seed,
        **metrics.to_dict(),
        "train_seconds_this_session": round(train_s),
        "train_seconds": round(sum(e.get("seconds", 0) for e in json.loads(history.read_text())))
        if history.exists()
        else round(train_s),
    }
    write_text_atomic(result_file, json.dumps(record, indent=2) + "\n")
    return record


def table(rows: list[dict], title: str) -> str:
    """Markdown table: one line per variant, metrics averaged over its seeds."""
    lines = [
        f"### {title}",
        "",
        "| variant | seeds | top-1 (mean ± sd) | top-1 per seed | top-5 | mAP | queries "
        "| train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for v in variants:
        runs = [r for r in rows if r["variant"] == v]
        top1 = [r["top1"] for r in runs]
        sd = f" ± {statistics.stdev(top1):.3f}" if len(top1) > 1 else ""
        top5, mean_ap, secs = (
            statistics.mean(r[key] for r in runs) for key in ("top5", "map", "train_seconds")
        )
        lines.append(
            f"| {v} | {' '.join(str(r.get('seed', 0)) for r in runs)} "
            f"| {statistics.mean(top1):.3f}{sd} | {' '.join(f'{t:.3f}' for t in top1)} "
            f"| {top5:.3f} | {mean_ap:.3f} | {runs[0]['queries']} | {round(secs)} |"
        )
    return "\n".join(lines) + "\n"


def seeds_of(name: str, seeds: list[int]) -> list[int]:
    """The pretrained features have nothing to seed: one run."""
    return [0] if name == "pretrained" else seeds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="training dataset root")
    p.add_argument("--val", required=True, help="validation dataset root (same products)")
    p.add_argument("--out", default="runs/ablation")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument(
        "--split",
        action="store_true",
        help="also run on a product-disjoint split of --data (generalisation)",
    )
    p.add_argument(
        "--only", action="append", choices=VARIANTS, help="run just these variants (repeatable)"
    )
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds (default: %(default)s)"
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    names = args.only or VARIANTS
    report = []
    rows = [
        run_variant(n, args.data, args.val, out / "val", args.epochs, seed)
        for n in names
        for seed in seeds_of(n, args.seeds)
    ]
    report.append(table(rows, f"trained on {args.data}, evaluated on {args.val}"))
    if args.split:
        train_dir, held_dir, n_train, n_held = split_products(args.data, out / "split", 0.25, 0)
        rows = [
            run_variant(n, str(train_dir), str(held_dir), out / "heldout", args.epochs, seed)
            for n in names
            for seed in seeds_of(n, args.seeds)
        ]
        report.append(
            table(
                rows,
                f"trained on {n_train} products of {args.data}, evaluated "
                f"on the {n_held} held-out products (never seen in training)",
            )
        )
    text = "\n".join(report)
    write_text_atomic(out / "ablation.md", text)
    print(text)
    print(f"wrote {out / 'ablation.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
