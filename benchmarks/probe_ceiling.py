"""Does another use of the frozen features, or of the training photos, beat the probe?

The head-only+mid probe (``trainer.head_only.fit_projection`` on frozen
EfficientNet-Lite0 features) is fitted once per seed; then val top-1 is scored with:

- ``catalog``: the catalog as the index (the task itself);
- ``catalog+train photos``: the index also holds every training photo under its
  product id (a product's score is its best row);
- ``catalog + 0.5 x best train photo``: the two scores added;
- ``centred per domain``: photo and catalog embeddings each centred on their training
  mean before the cosine.

And, once, a linear classifier over the products trained on the training photos'
features (``logistic regression``). See docs/training_experiments.md, session 5.

    python benchmarks/probe_ceiling.py --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --seeds 0 1 2
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.probe_seeds import probe_datasets
from mobile_sdk.errors import run_reporting_errors
from mobile_sdk.retrieval_metrics import product_scores, retrieval_metrics, score_metrics
from trainer.head_only import fit_projection, probe_features
from trainer.model import EmbeddingNet, ModelConfig


def logistic_regression_top1(
    x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, steps: int = 500
) -> float:
    """Val accuracy of a softmax classifier over the products on unit features."""
    torch.manual_seed(0)
    x, xv = F.normalize(x, dim=1), F.normalize(xv, dim=1)
    lin = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.cross_entropy(lin(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((lin(xv).argmax(1) == yv).float().mean())


def main(argv: list[str] | None = None) -> int:
    args, train_set, val_set = probe_datasets(__doc__, argv)
    ids = [p.product_id for p in train_set.products]
    if ids != [p.product_id for p in val_set.products]:
        sys.exit(f"{args.val}: not the same products as {args.data}")
    model = EmbeddingNet(ModelConfig(mid_features=True)).eval()
    cat, cl, pho, pl = probe_features(model, train_set)
    vcat, vcl, vpho, vpl = probe_features(model, val_set)
    truth = [ids[i] for i in vpl.tolist()]
    gallery_ids = [ids[i] for i in vcl.tolist()]
    photo_ids = [ids[i] for i in pl.tolist()]

    rows: dict[str, list[float]] = {}
    for seed in args.seeds:
        torch.manual_seed(seed)
        proj, _ = fit_projection(cat, cl, pho, pl, model.config.embedding_dim)
        with torch.no_grad():
            q, g, t = (F.normalize(proj(x), dim=1).numpy() for x in (vpho, vcat, pho))
            c_mean = F.normalize(proj(cat), dim=1).numpy().mean(0)
        both = retrieval_metrics(q, truth, np.vstack([g, t]), gallery_ids + photo_ids)
        s_cat, products = product_scores(q, g, gallery_ids)
        s_pho, photo_products = product_scores(q, t, photo_ids)
        s_pho = s_pho[:, [photo_products.index(p) for p in products]]
        added = score_metrics(s_cat + 0.5 * s_pho, products, truth)
        centred = retrieval_metrics(q - t.mean(0), truth, g - c_mean, gallery_ids)
        for name, value in (
            ("catalog (the task)", score_metrics(s_cat, products, truth).top1),
            ("catalog + train photos in the index", both.top1),
            ("catalog + 0.5 x best train photo", added.top1),
            ("centred per domain", centred.top1),
        ):
            rows.setdefault(name, []).append(value)
    print("| check | top-1 per seed | mean |\n|---|---|---|")
    for name, r in rows.items():
        per_seed = " ".join(f"{x:.3f}" for x in r)
        print(f"| {name} | {per_seed} | {statistics.mean(r):.3f} |")
    lr = logistic_regression_top1(pho, pl, vpho, vpl)
    print(f"| logistic regression on the training photos (one fit) | {lr:.3f} | {lr:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
