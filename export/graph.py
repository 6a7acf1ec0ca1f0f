"""The graph every format exports: NHWC float image -> unnormalised embedding.

Apps hand over images as NHWC float32 (the layout of Android bitmaps and of
``mobile_sdk.preprocess``), so the exported graph takes NHWC and transposes
inside. The final L2 normalisation stays out of the graph: int8 ``SQRT`` /
``L2_NORMALIZATION`` broke several converters, and the runtime does it exactly in
float (``mobile_sdk.embedder``). Every variant of one export makes the same choice,
recorded as ``l2_normalized_output: false`` in its metadata.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch
from torch import nn

from mobile_sdk.preprocess_config import PreprocessConfig
from trainer.model import EmbeddingNet, load_model

L2_NORMALIZED_OUTPUT = False
# The ImageNet classifier is kept in checkpoints for the multitask loss but takes
# no part in the embedding: it is neither exported nor fingerprinted.
_NOT_EXPORTED_PREFIX = "backbone.net._fc."


class ExportGraph(nn.Module):
    """(1, S, S, 3) float32 normalised NHWC image -> (1, D) embedding, not normalised."""

    def __init__(self, model: EmbeddingNet) -> None:
        super().__init__()
        self.model = model.eval()

    @property
    def preprocess(self) -> PreprocessConfig:
        """The input rule of the wrapped model."""
        return self.model.preprocess

    @property
    def embedding_dim(self) -> int:
        """Length of the output vector."""
        return self.model.config.embedding_dim

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.permute(0, 3, 1, 2), normalize=L2_NORMALIZED_OUTPUT)

    def sample_input(self) -> torch.Tensor:
        """A fixed (1, S, S, 3) tensor for tracing; its values do not matter."""
        size = self.preprocess.input_size
        return torch.zeros(1, size, size, 3)

    @torch.no_grad()
    def embed_inputs(self, inputs: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Reference embeddings (N, D) float32 of preprocessed (N, S, S, 3) inputs."""
        out = [np.zeros((0, self.embedding_dim), np.float32)]
        for start in range(0, len(inputs), batch_size):
            out.append(self(torch.from_numpy(inputs[start : start + batch_size])).numpy())
        return np.concatenate(out)


def load_export_graph(checkpoint: str | os.PathLike) -> ExportGraph:
    """The export graph of a checkpoint file.

    Raises:
        CheckpointError: the file is missing, corrupt or not a DeepProduct checkpoint.
    """
    return ExportGraph(load_model(checkpoint))


def model_fingerprint(graph: ExportGraph) -> str:
    """``"sha256:<hex>"`` of the embedding function: preprocessing rule, output
    normalisation and every exported tensor (name, dtype, shape, bytes), in name order.

    Stable across runs and machines for the same checkpoint; shared by all precisions
    of one export, since they approximate the same function.
    """
    h = hashlib.sha256()
    h.update(b"deepproduct-fingerprint/1\n")
    h.update(graph.preprocess.to_json().encode())
    h.update(f"\nl2_normalized_output={L2_NORMALIZED_OUTPUT}\n".encode())
    state = graph.model.state_dict()
    for name in sorted(state):
        if name.startswith(_NOT_EXPORTED_PREFIX):
            continue
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()
