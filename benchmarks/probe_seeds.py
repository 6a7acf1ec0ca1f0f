"""Frozen-feature probe across seeds: which projection input ranks best, and how noisy.

Features are computed once per input variant; the linear projection (the head-only
baseline's, ``trainer.head_only.fit_projection``) is then fitted once per seed and
scored by val top-1. Variants: the pooled head features alone (the classic baseline)
and with the penultimate block pooled beside them (``ModelConfig.mid_features``).

    python benchmarks/probe_seeds.py --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import run_reporting_errors
from mobile_sdk.retrieval_metrics import retrieval_metrics
from trainer.head_only import fit_projection, probe_features
from trainer.model import EmbeddingNet, ModelConfig


def probe_top1(
    mid_features: bool, train_set: Dataset, val_set: Dataset, seeds: list[int]
) -> list[float]:
    """Val top-1 of the probe for each seed."""
    model = EmbeddingNet(ModelConfig(mid_features=mid_features)).eval()
    cat, cl, pho, pl = probe_features(model, train_set)
    vcat, vcl, vpho, vpl = probe_features(model, val_set)
    results = []
    for seed in seeds:
        torch.manual_seed(seed)
        proj, _ = fit_projection(cat, cl, pho, pl, model.config.embedding_dim)
        with torch.no_grad():
            queries, gallery = proj(vpho).numpy(), proj(vcat).numpy()
        metrics = retrieval_metrics(queries, vpl.tolist(), gallery, vcl.tolist())
        results.append(metrics.top1)
    return results


def probe_datasets(doc: str, argv: list[str] | None) -> tuple[argparse.Namespace, Dataset, Dataset]:
    """The probe scripts' command line (--data, --val, --seeds), datasets scanned once.

    ``doc``: the script's docstring; its first paragraph becomes the description.
    """
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--data", required=True, help="training dataset root")
    p.add_argument("--val", required=True, help="validation dataset root (same products)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args(argv)
    train_set = scan_dataset(args.data, check_images=True)
    val_set = scan_dataset(args.val, check_images=True, require_photos=True)
    return args, train_set, val_set


def main(argv: list[str] | None = None) -> int:
    args, train_set, val_set = probe_datasets(__doc__, argv)
    print("| projection input | top-1 per seed | mean ± sd |\n|---|---|---|")
    for mid, name in ((False, "pooled head (1280)"), (True, "pooled head + penultimate block")):
        r = probe_top1(mid, train_set, val_set, args.seeds)
        sd = statistics.stdev(r) if len(r) > 1 else 0.0
        per_seed = " ".join(f"{x:.3f}" for x in r)
        print(f"| {name} | {per_seed} | {statistics.mean(r):.3f} ± {sd:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
