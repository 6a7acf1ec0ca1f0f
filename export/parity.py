"""How closely an exported file reproduces the PyTorch model on the same inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    """Agreement of a file's raw outputs with PyTorch's on the same N inputs.

    Attributes:
        cosine_mean, cosine_min: cosine similarity of the two embeddings of each
            input (after L2 normalisation), averaged / worst over the inputs.
        max_abs_diff: largest absolute difference of any raw output component.
        count: number of inputs compared.
    """

    cosine_mean: float
    cosine_min: float
    max_abs_diff: float
    count: int

    def to_dict(self) -> dict:
        """Plain dict for the JSON report."""
        return asdict(self)


def agreement(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """Compare (N, D) raw outputs row by row.

    Raises:
        ValueError: shapes differ, N is 0, or a row has zero norm.
    """
    reference = np.asarray(reference, np.float64)
    candidate = np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape or reference.ndim != 2 or len(reference) == 0:
        raise ValueError(f"cannot compare outputs shaped {reference.shape} and {candidate.shape}")
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    if np.any(norms == 0):
        raise ValueError("an output has zero norm: cosine similarity is undefined")
    cos = np.sum(reference * candidate, axis=1) / norms
    return Agreement(
        cosine_mean=float(cos.mean()),
        cosine_min=float(cos.min()),
        max_abs_diff=float(np.max(np.abs(reference - candidate))),
        count=len(reference),
    )
