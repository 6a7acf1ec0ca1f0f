"""Multitask fine-tuning: robust contrastive pair loss + lambda x ImageNet term.

Runs on the CPU by default, on the GPU when there is one, and on several GPUs
under ``torchrun`` (DistributedDataParallel): each rank draws its own batches.

:func:`train` is the epoch loop; the run is set up in ``train_setup``, each batch is
one ``train_step``, and per-epoch state and the final model are written by
``checkpoint``.
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.distributed as dist
from tqdm import tqdm

from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.dataset_layout import Dataset
from trainer.checkpoint import MODEL_FILE, STATE_FILE, save_atomic, save_model, training_state
from trainer.evaluate import evaluate_model
from trainer.heap_reuse import keep_freed_memory
from trainer.model import EmbeddingNet
from trainer.train_config import TrainConfig
from trainer.train_setup import (
    ResumeError,
    TrainingRun,
    build_pair_loss,
    freeze_batchnorm,
    setup_run,
    training_autocast,
)
from trainer.train_step import train_step

__all__ = [
    "ResumeError",
    "TrainConfig",
    "build_pair_loss",
    "interpolate_weights",
    "train",
    "training_autocast",
]


def interpolate_weights(init: dict, tuned: dict, alpha: float) -> dict:
    """WiSE-FT (Wortsman et al., CVPR 2022): ``init + alpha * (tuned - init)`` per tensor.

    Floating-point tensors are interpolated; integer ones (BatchNorm's batch counters)
    are taken from ``tuned``. ``alpha`` 1 gives ``tuned``, 0 gives ``init``.

    Raises:
        ValueError: the two state dicts do not have the same keys and shapes.
    """
    if init.keys() != tuned.keys():
        raise ValueError("state dicts differ in their keys")
    out = {}
    for k, t in tuned.items():
        if init[k].shape != t.shape:
            raise ValueError(f"{k}: shapes differ, {tuple(init[k].shape)} vs {tuple(t.shape)}")
        base = init[k].to(t)
        out[k] = base + alpha * (t - base) if t.is_floating_point() else t
    return out


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Fine-tune a model as ``cfg`` says; write checkpoints and ``model.pt`` to ``cfg.out``.

    Returns:
        The run history: one dict per epoch (loss terms, throughput, val metrics).

    Raises:
        DatasetError: the training or validation data is not in the standard layout.
        OutputError: ``cfg.out`` cannot be written (checked before training starts), or
            a checkpoint write failed (disk full); the previous checkpoint is intact.
        ResumeError: ``resume`` with settings that differ from the saved run.
    """
    keep_freed_memory()  # every step re-uses its activation pages (trainer/heap_reuse.py)
    run = setup_run(cfg, resume, progress)
    t_run = time.time()
    for epoch in range(run.start_epoch, cfg.epochs):
        _train_epoch(run, epoch, progress)
    _finish(run, t_run)
    if run.world > 1:
        dist.destroy_process_group()
    return {"history": run.history}


def _train_epoch(run: TrainingRun, epoch: int, progress: bool) -> None:
    """One epoch of steps; then (rank 0) validation, the record and the checkpoint."""
    cfg, sampler = run.cfg, run.sampler
    sampler.set_epoch(epoch)
    torch.manual_seed(cfg.seed * 1000 + epoch)
    run.net.train()
    if cfg.freeze_bn:
        freeze_batchnorm(run.net)
    sums = {"loss": 0.0, "pair": 0.0, "multitask": 0.0, "pos_pairs": 0, "neg_pairs": 0}
    n_images, t0 = 0, time.time()
    bar = tqdm(
        run.loader,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        unit="batch",
        disable=not (progress and run.is_main),
        leave=False,
    )
    for step, (x, labels, kind) in enumerate(bar):
        values = train_step(run, x, labels, kind, epoch * len(sampler) + step)
        n_images += len(x)
        for k, v in values.items():
            sums[k] += v
        bar.set_postfix(
            loss=f"{sums['loss'] / (step + 1):.4f}",
            img_s=f"{n_images / (time.time() - t0):.1f}",
        )
    steps = len(sampler)
    record = {k: v / steps for k, v in sums.items()}
    record.update(
        epoch=epoch + 1,
        seconds=round(time.time() - t0, 1),
        images_per_s=round(n_images / (time.time() - t0), 2),
        lr=run.scheduler.get_last_lr()[0],
    )
    if not run.is_main:
        return
    if run.val is not None:
        record.update(_val_metrics(run.shipped, run.val, run.device))
    run.history.append(record)
    state = training_state(
        run.model,
        run.optimizer,
        run.scheduler,
        cfg,
        epoch,
        run.history,
        run.init_state,
        run.ema,
        run.memory,
    )
    save_atomic(state, run.out / STATE_FILE)
    msg = (
        f"epoch {epoch + 1}/{cfg.epochs}: loss {record['loss']:.4f} "
        f"(pair {record['pair']:.4f}, multitask {record['multitask']:.4f}), "
        f"{record['images_per_s']:.1f} img/s"
    )
    if run.val is not None:
        msg += f", val top-1 {record['val_top1']:.3f} top-5 {record['val_top5']:.3f}"
    print(msg, file=sys.stderr, flush=True)


def _finish(run: TrainingRun, t_run: float) -> None:
    """The shipped weights (EMA, then WiSE-FT) -> ``model.pt`` and ``history.json``."""
    cfg, model, history, val = run.cfg, run.model, run.history, run.val
    if run.ema is not None:
        model.load_state_dict(run.ema.module.state_dict())
    if run.is_main and cfg.wise_alpha < 1.0 and history:
        tuned = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        model.load_state_dict(interpolate_weights(run.init_state, tuned, cfg.wise_alpha))
        record = {"epoch": "wise-ft", "wise_alpha": cfg.wise_alpha}
        if val is not None:
            record.update(_val_metrics(model, val, run.device))
            print(
                f"WiSE-FT alpha {cfg.wise_alpha}: val top-1 {record['val_top1']:.3f} "
                f"top-5 {record['val_top5']:.3f}",
                file=sys.stderr,
                flush=True,
            )
        history.append(record)
    if run.is_main:
        save_model(model, cfg, history, run.out)
        write_text_atomic(run.out / "history.json", json.dumps(history, indent=2) + "\n")
        last = history[-1] if history else {}
        summary = (
            f"trained {cfg.epochs} epochs in {time.time() - t_run:.0f} s -> {run.out / MODEL_FILE}"
        )
        if "val_top1" in last:
            summary += f" (val top-1 {last['val_top1']:.3f}, top-5 {last['val_top5']:.3f})"
        print(summary, flush=True)


def _val_metrics(model: EmbeddingNet, val: Dataset, device: torch.device) -> dict:
    """The history fields of one validation pass: val_top1, val_top5, val_map."""
    result = evaluate_model(model, val, device=device, progress=False)
    return {"val_top1": result.top1, "val_top5": result.top5, "val_map": result.map}
