"""Retrieval evaluation of PyTorch models: embed catalog and photos, rank, score."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.preprocess import preprocess
from mobile_sdk.retrieval_metrics import RetrievalResult, retrieval_metrics
from trainer.model import PretrainedFeatures, load_model

PRETRAINED = "pretrained"


def load_eval_model(spec: str | os.PathLike) -> nn.Module:
    """A checkpoint path, or ``pretrained`` for the un-tuned ImageNet features.

    Raises:
        CheckpointError: the checkpoint is missing or invalid.
    """
    if str(spec) == PRETRAINED:
        return PretrainedFeatures().eval()
    return load_model(spec)


@torch.no_grad()
def embed_files(
    model: nn.Module,
    files: Sequence[Path],
    device: torch.device | str | None = None,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "embedding",
) -> np.ndarray:
    """Embed image files with the runtime's exact preprocessing; (N, D) float32.

    ``device`` None: the device the model's weights are on.
    """
    if device is None:
        device = next(model.parameters()).device
    model.eval()
    config = model.preprocess
    out = []
    bar = tqdm(total=len(files), desc=desc, unit="img", disable=not progress, leave=False)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        x = torch.from_numpy(np.stack([preprocess(f, config) for f in chunk]))
        x = x.permute(0, 3, 1, 2).to(device).contiguous(memory_format=torch.channels_last)
        out.append(model(x).float().cpu().numpy())
        bar.update(len(chunk))
    bar.close()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> RetrievalResult:
    """Top-1/top-5/mAP of ranking ``dataset``'s catalog products for each of its photos."""
    was_training = model.training
    (gallery_files, gallery_ids), (query_files, query_ids) = dataset.gallery(), dataset.queries()
    gallery = embed_files(model, gallery_files, device, progress=progress, desc="catalog")
    queries = embed_files(model, query_files, device, progress=progress, desc="photos")
    model.train(was_training)
    return retrieval_metrics(queries, query_ids, gallery, gallery_ids)
