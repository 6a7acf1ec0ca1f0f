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


def fit_linear_probe(
    model: EmbeddingNet,
    dataset: Dataset,
    epochs: int = 300,
    lr: float = 1e-3,
    scale: float = 16.0,
    progress: bool = True,
) -> float:
    """Fit ``model.embed`` on frozen pooled features of ``dataset``; returns the final loss.

    Each photo is classified over the catalog products by a softmax of ``scale`` x cosine
    between its projection and each product's best catalog projection.

    Raises:
        ValueError: the dataset has no photos.
    """
    if dataset.num_photos == 0:
        raise ValueError(f"{dataset.root}: a linear probe needs photos")
    was_training = model.training
    model.eval()
    backbone_only = _PooledFeatures(model)
    catalog_files = [f for p in dataset.products for f in p.catalog]
    catalog_label = torch.tensor([i for i, p in enumerate(dataset.products) for _ in p.catalog])
    photo_files = [f for p in dataset.products for f in p.photos]
    photo_label = torch.tensor([i for i, p in enumerate(dataset.products) for _ in p.photos])
    device = next(model.parameters()).device
    cat = torch.from_numpy(
        embed_files(backbone_only, catalog_files, device, progress=progress, desc="probe catalog")
    ).to(device)
    pho = torch.from_numpy(
        embed_files(backbone_only, photo_files, device, progress=progress, desc="probe photos")
    ).to(device)
    proj = torch.nn.Linear(cat.shape[1], model.config.embedding_dim).to(device)
    opt = torch.optim.Adam(proj.parameters(), lr=lr)
    catalog_label, photo_label = catalog_label.to(device), photo_label.to(device)
    for _ in range(epochs):
        c = F.normalize(proj(cat), dim=1)
        p = F.normalize(proj(pho), dim=1)
        # a product's score is its best catalog image, as at search time
        sims = p @ c.T
        per_product = torch.full((len(pho), len(dataset.products)), -2.0, device=device)
        per_product = per_product.scatter_reduce(
            1, catalog_label.expand(len(pho), -1), sims, reduce="amax"
        )
        loss = F.cross_entropy(scale * per_product, photo_label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        model.embed.weight.copy_(proj.weight)
        model.embed.bias.copy_(proj.bias)
    model.train(was_training)
    return loss.item()


def train_head_only(
    data: str,
    out: str,
    embedding_dim: int = 256,
    epochs: int = 300,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Fit the projection on ``data`` and write ``out/model.pt`` (an ordinary checkpoint)."""
    torch.manual_seed(seed)
    dataset = scan_dataset(data, check_images=True)
    model = EmbeddingNet(ModelConfig(embedding_dim=embedding_dim)).eval()
    t0 = time.time()
    loss = fit_linear_probe(model, dataset, epochs=epochs, lr=lr, progress=progress)
    payload = model_payload(model)
    payload["train_config"] = {"baseline": "head-only", "data": data, "epochs": epochs, "lr": lr}
    payload["history"] = json.dumps([{"loss": loss}])
    path = save_atomic(payload, Path(out) / MODEL_FILE)
    print(f"head-only baseline trained in {time.time() - t0:.0f} s -> {path}", file=sys.stderr)
    return path


class _PooledFeatures(torch.nn.Module):
    def __init__(self, model: EmbeddingNet):
        super().__init__()
        self.model = model

    @property
    def preprocess(self):
        return self.model.preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.backbone(x)
