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

Each run lives in ``OUT/<variant>`` and resumes where it stopped, so the ablation
can be spread over several sessions: just run the same command again.

    python benchmarks/ablation.py --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --out runs/ablation [--split] [--only robust]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.dataset_split import split_products
from trainer.evaluate import evaluate_model, load_eval_model
from trainer.head_only import train_head_only
from trainer.train import TrainConfig, train

FULL = {
    "contrastive": dict(loss="contrastive", multitask="none"),
    "robust": dict(loss="robust", multitask="none"),
    "robust+multitask": dict(loss="robust", multitask="distill"),
}
VARIANTS = ["pretrained", "head-only", "head-only+mid", *FULL]


def run_variant(name: str, data: str, val: str, out: Path, epochs: int) -> dict:
    """Train (or resume) one variant and evaluate it; cached in ``out/name/eval.json``."""
    run = out / name.replace("+", "_")
    result_file = run / "eval.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    t0 = time.time()
    if name == "pretrained":
        model_spec = "pretrained"
    elif name in ("head-only", "head-only+mid"):
        model_spec = str(train_head_only(data, str(run), mid_features=name == "head-only+mid"))
    else:
        cfg = TrainConfig(data=data, out=str(run), val=val, epochs=epochs, **FULL[name])
        train(cfg, resume=True)
        model_spec = str(run / "model.pt")
    train_s = time.time() - t0
    metrics = evaluate_model(load_eval_model(model_spec), scan_dataset(val, require_photos=True))
    history = run / "history.json"
    record = {
        "variant": name,
        **metrics.to_dict(),
        "train_seconds_this_session": round(train_s),
        "train_seconds": round(sum(e.get("seconds", 0) for e in json.loads(history.read_text())))
        if history.exists()
        else round(train_s),
    }
    write_text_atomic(result_file, json.dumps(record, indent=2) + "\n")
    return record


def table(rows: list[dict], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| variant | top-1 | top-5 | mAP | queries | train s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['top1']:.3f} | {r['top5']:.3f} | {r['map']:.3f} "
            f"| {r['queries']} | {r['train_seconds']} |"
        )
    return "\n".join(lines) + "\n"


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
    args = p.parse_args(argv)
    out = Path(args.out)
    names = args.only or VARIANTS
    report = []
    rows = [run_variant(n, args.data, args.val, out / "val", args.epochs) for n in names]
    report.append(table(rows, f"trained on {args.data}, evaluated on {args.val}"))
    if args.split:
        train_dir, held_dir, n_train, n_held = split_products(args.data, out / "split", 0.25, 0)
        rows = [
            run_variant(n, str(train_dir), str(held_dir), out / "heldout", args.epochs)
            for n in names
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
    sys.exit(main())
