"""Per-epoch training checkpoints, written atomically, and resuming from them."""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from mobile_sdk.atomic_file import atomic_path
from trainer.model import CHECKPOINT_FORMAT, load_checkpoint_file, model_payload

STATE_FILE = "checkpoint.pt"  # full training state, rewritten every epoch
MODEL_FILE = "model.pt"  # the trained model alone, for evaluation and export


def save_atomic(payload: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file, then rename over ``path``.

    Raises:
        OutputError: the file cannot be written (read-only folder, disk full); the
            previous file, if any, is intact.
    """
    # Serialised in memory first: torch.save straight to a file turns a failed write
    # (disk full) into a bare RuntimeError ("unexpected pos ..."); a plain file write
    # raises the OSError that atomic_path reports as OutputError.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return Path(path)


def rng_state() -> dict:
    """Python, numpy and torch global RNG states (plain containers, loadable safely)."""
    return {
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy": np.random.get_state()[1].tolist(),
        "numpy_pos": int(np.random.get_state()[2]),
        "torch": torch.get_rng_state(),
    }


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"]))
    torch.set_rng_state(state["torch"])


def load_training_state(out_dir: str | os.PathLike) -> dict | None:
    """The latest training state in ``out_dir``, or None if there is none."""
    path = Path(out_dir) / STATE_FILE
    return load_checkpoint_file(path) if path.exists() else None


def training_state(
    model,
    optimizer,
    scheduler,
    cfg,
    epoch: int,
    history: list,
    init_state: dict,
    ema=None,
    memory=None,
) -> dict:
    """What :data:`STATE_FILE` holds after ``epoch``: enough to resume bit for bit.

    Args:
        model, optimizer, scheduler: the run's, after the epoch.
        cfg: the run's ``TrainConfig`` (a resume must match it).
        epoch: the finished epoch (0-based).
        history: the per-epoch records so far.
        init_state: the starting weights, for WiSE-FT after a resume.
        ema: the weights' moving average, if the run keeps one.
        memory: the catalog memory, if the run keeps one (its embeddings are as stale as
            they were at the end of the epoch; a resume must start from the same ones).
    """
    state = {
        **model_payload(model),
        "format": CHECKPOINT_FORMAT,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "epoch": epoch,
        "train_config": cfg.to_dict(),
        "history": json.dumps(history),
        "init_state_dict": init_state,
    }
    if ema is not None:
        state["ema_state_dict"] = ema.state_dict()
    if memory is not None and memory.embeddings is not None:
        state["catalog_memory"] = memory.embeddings.detach().cpu().clone()
    return state


def save_model(model, cfg, history: list, out_dir: str | os.PathLike) -> Path:
    """Write the trained model (with its config and history) to ``out_dir/``:data:`MODEL_FILE`.

    Raises:
        OutputError: the file cannot be written.
    """
    payload = model_payload(model)
    payload["train_config"] = cfg.to_dict()
    payload["history"] = json.dumps(history)
    return save_atomic(payload, Path(out_dir) / MODEL_FILE)
