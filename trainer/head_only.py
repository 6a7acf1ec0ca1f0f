"""Head-only baseline: frozen ImageNet backbone, one trained linear projection.

Each photo is classified over the catalog with a softmax on scaled cosine
similarities between its projected feature and every product's projected catalog
feature. Cheap (features are computed once), and the bar that full fine-tuning
has to clear.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mobile_sdk.dataset_layout import Dataset, scan_dataset
from trainer.checkpoint import MODEL_FILE, save_atomic
from trainer.evaluate import embed_files
from trainer.model import EmbeddingNet, ModelConfig, model_payload


def probe_features(
    model: EmbeddingNet, dataset: Dataset, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frozen features the projection reads: (catalog, catalog labels, photos, photo labels).

    Labels index ``dataset.products``.

    Raises:
        ValueError: the dataset has no photos.
    """
    if dataset.num_photos == 0:
        raise ValueError(f"{dataset.root}: a linear probe needs photos")
    was_training = model.training
    model.eval()
    features = _ProjectionInput(model)
    label_of = {product_id: i for i, product_id in enumerate(dataset.product_ids)}
    catalog_files, catalog_ids = dataset.gallery()
    photo_files, photo_ids = dataset.queries()
    catalog_label = torch.tensor([label_of[p] for p in catalog_ids])
    photo_label = torch.tensor([label_of[p] for p in photo_ids])
    device = next(model.parameters()).device
    cat = embed_files(features, catalog_files, device, progress=progress, desc="probe catalog")
    pho = embed_files(features, photo_files, device, progress=progress, desc="probe photos")
    model.train(was_training)
    return torch.from_numpy(cat), catalog_label, torch.from_numpy(pho), photo_label


def fit_projection(
    cat: torch.Tensor,
    catalog_label: torch.Tensor,
    pho: torch.Tensor,
    photo_label: torch.Tensor,
    out_dim: int,
    epochs: int = 300,
    lr: float = 1e-3,
    scale: float = 16.0,
) -> tuple[torch.nn.Linear, float]:
    """Full-batch Adam fit of a linear projection on frozen features; (projection, loss).

    Each photo is classified over the products by a softmax of ``scale`` x cosine
    between its projection and each product's best catalog projection, as at search time.
    The projection's initialisation draws from torch's global generator.
    """
    device = cat.device
    num_products = int(catalog_label.max()) + 1
    proj = torch.nn.Linear(cat.shape[1], out_dim).to(device)
    opt = torch.optim.Adam(proj.parameters(), lr=lr)
    for _ in range(epochs):
        c = F.normalize(proj(cat), dim=1)
        p = F.normalize(proj(pho), dim=1)
        sims = p @ c.T
        per_product = torch.full((len(pho), num_products), -2.0, device=device)
        per_product = per_product.scatter_reduce(
            1, catalog_label.expand(len(pho), -1), sims, reduce="amax"
        )
        loss = F.cross_entropy(scale * per_product, photo_label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return proj, loss.item()


def fit_linear_probe(
    model: EmbeddingNet,
    dataset: Dataset,
    epochs: int = 300,
    lr: float = 1e-3,
    scale: float = 16.0,
    progress: bool = True,
) -> float:
    """Fit ``model.embed`` on frozen features of ``dataset``; returns the final loss.

    See :func:`fit_projection` for the objective.

    Raises:
        ValueError: the dataset has no photos.
    """
    device = next(model.parameters()).device
    cat, cl, pho, pl = (t.to(device) for t in probe_features(model, dataset, progress))
    proj, loss = fit_projection(
        cat, cl, pho, pl, model.config.embedding_dim, epochs=epochs, lr=lr, scale=scale
    )
    with torch.no_grad():
        model.embed.weight.copy_(proj.weight)
        model.embed.bias.copy_(proj.bias)
    return loss


def train_head_only(
    data: str,
    out: str,
    embedding_dim: int = 256,
    epochs: int = 300,
    lr: float = 1e-3,
    seed: int = 0,
    mid_features: bool = False,
    progress: bool = True,
) -> Path:
    """Fit the projection on ``data`` and write ``out/model.pt`` (an ordinary checkpoint).

    ``mid_features=False`` is the classic baseline (pooled head features only);
    True gives the projection the same input as the shipped fine-tuned model.
    """
    torch.manual_seed(seed)
    dataset = scan_dataset(data, check_images=True)
    config = ModelConfig(embedding_dim=embedding_dim, mid_features=mid_features)
    model = EmbeddingNet(config).eval()
    t0 = time.time()
    loss = fit_linear_probe(model, dataset, epochs=epochs, lr=lr, progress=progress)
    payload = model_payload(model)
    payload["train_config"] = {
        "baseline": "head-only",
        "data": data,
        "epochs": epochs,
        "lr": lr,
        "mid_features": mid_features,
    }
    payload["history"] = json.dumps([{"loss": loss}])
    path = save_atomic(payload, Path(out) / MODEL_FILE)
    print(f"head-only baseline trained in {time.time() - t0:.0f} s -> {path}", file=sys.stderr)
    return path


class _ProjectionInput(torch.nn.Module):
    """The model up to (not including) its projection, for ``embed_files``."""

    def __init__(self, model: EmbeddingNet):
        super().__init__()
        self.model = model

    @property
    def preprocess(self):
        return self.model.preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)[0]
