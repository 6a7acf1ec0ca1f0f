"""Multitask fine-tuning: robust contrastive pair loss + lambda x ImageNet term.

Runs on the CPU by default, on the GPU when there is one, and on several GPUs
under ``torchrun`` (DistributedDataParallel): each rank draws its own batches.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm

from mobile_sdk.atomic_file import check_writable_dir, write_text_atomic
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import DeepProductError
from trainer.auxiliary import AuxiliaryImages
from trainer.catalog_memory import CatalogMemory
from trainer.checkpoint import (
    MODEL_FILE,
    STATE_FILE,
    load_training_state,
    restore_rng_state,
    rng_state,
    save_atomic,
)
from trainer.evaluate import evaluate_model
from trainer.head_only import fit_linear_probe
from trainer.losses import (
    CatalogSoftmaxLoss,
    ContrastiveLoss,
    DistillationLoss,
    RobustContrastiveLoss,
)
from trainer.miners import BatchPairMiner
from trainer.model import CHECKPOINT_FORMAT, EmbeddingNet, ModelConfig, model_payload
from trainer.sampler import ProductBatchSampler
from trainer.train_config import TrainConfig, TrainConfigError
from trainer.training_images import TrainingImages


class ResumeError(DeepProductError, ValueError):
    """``--resume`` was asked for a run whose settings differ from the saved one."""


def build_pair_loss(cfg: TrainConfig) -> ContrastiveLoss | CatalogSoftmaxLoss:
    """The loss named by ``cfg.loss`` with its margins (unset ones keep class defaults)."""
    if cfg.loss == "softmax":
        return CatalogSoftmaxLoss(cfg.softmax_temperature, cfg.softmax_margin, cfg.softmax_relax)
    if cfg.loss == "contrastive":
        return ContrastiveLoss(pos_margin=cfg.pos_margin or 0.0, neg_margin=cfg.neg_margin)
    given = {"pos_margin": cfg.pos_margin, "pos_cap": cfg.pos_cap, "neg_floor": cfg.neg_floor}
    return RobustContrastiveLoss(
        neg_margin=cfg.neg_margin, **{k: v for k, v in given.items() if v is not None}
    )


def _freeze_batchnorm(model: nn.Module) -> None:
    """Keep BN running statistics fixed: batches of a dozen products are too small and
    too unlike ImageNet for reliable statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def _restrict_trainable(model: EmbeddingNet, trainable_blocks: int | None) -> None:
    """Freeze all but the last ``trainable_blocks`` MBConv blocks (None: train everything)."""
    if trainable_blocks is None:
        return
    net = model.backbone.net
    blocks = list(net._blocks)
    frozen = [net._conv_stem, net._bn0, *blocks[: max(0, len(blocks) - trainable_blocks)]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)


@torch.no_grad()
def _init_embedding_head(model: EmbeddingNet, images: TrainingImages, device: torch.device) -> None:
    """Orthogonal projection of *centred* pooled features.

    Pooled ReLU6 features are all non-negative, so a plain random projection maps
    every image near one direction (cosines ~0.9) and the margins mean nothing at
    the start. Subtracting the mean catalog feature spreads them out.
    """
    model.eval()  # train mode would update BN statistics and draw drop-connect noise
    tensors = [images[key] for key in images.catalog_keys()]
    x = torch.stack([t for t, _, _ in tensors]).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    mean = torch.cat([model.features(chunk)[0] for chunk in x.split(32)]).mean(dim=0)
    nn.init.orthogonal_(model.embed.weight)
    model.embed.bias.copy_(-model.embed.weight @ mean)


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


def _lr_lambda(total_steps: int, warmup_fraction: float):
    warmup = max(1, int(total_steps * warmup_fraction))

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


def _check_resume(saved: dict, cfg: TrainConfig) -> None:
    old = TrainConfig.from_dict(saved["train_config"]).to_dict()
    new = cfg.to_dict()
    diff = [
        f"{k}: {old[k]!r} -> {new[k]!r}"
        for k in new
        if old.get(k) != new[k] and k not in TrainConfig.RESUMABLE_CHANGES
    ]
    if diff:
        raise ResumeError(
            f"{cfg.out}: --resume with settings that differ from the saved run: "
            + "; ".join(diff)
            + " (use a new --out to start a different run)"
        )


def _native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated, which is slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return any(
        getattr(cpu, name, lambda: False)()
        for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def training_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of the training passes for ``precision`` ("auto", "bf16", "fp32").

    Raises:
        TrainConfigError: "bf16" asked for on a device without native bfloat16.
    """
    bf16 = precision == "bf16" or (precision == "auto" and _native_bf16(device))
    if not bf16:
        return contextlib.nullcontext()
    if precision == "bf16" and not _native_bf16(device):
        raise TrainConfigError(f"precision bf16: {device.type} has no native bfloat16; use fp32")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("LOCAL_RANK", "0")),
        world,
    )


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
    rank, local_rank, world = _distributed()
    is_main = rank == 0
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    autocast = training_autocast(cfg.precision, device)  # checked before any slow step
    out = Path(cfg.out)
    data = scan_dataset(cfg.data, check_images=True)
    val: Dataset | None = scan_dataset(cfg.val, require_photos=True) if cfg.val else None
    check_writable_dir(out)
    if is_main:
        print(f"train: {data.summary()}", file=sys.stderr)
        for w in data.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if val:
            print(f"val:   {val.summary()}", file=sys.stderr)

    torch.manual_seed(cfg.seed)
    aux = AuxiliaryImages(cfg.aux_data, seed=cfg.seed) if cfg.multitask == "aux" else None
    num_classes = aux.num_classes if aux is not None else 1000
    model = EmbeddingNet(
        ModelConfig(cfg.backbone, cfg.embedding_dim, num_classes, cfg.mid_features, cfg.input_size)
    ).to(device)
    pre = model.preprocess
    images = TrainingImages(
        data,
        pre,
        progress=progress and is_main,
        photo_min_area=cfg.photo_min_area,
        augment=cfg.augment,
    )

    for stale in out.glob(f".{STATE_FILE}.*.tmp"):  # left by a kill during a save
        stale.unlink(missing_ok=True)
    saved = load_training_state(out) if resume else None
    if resume and saved is None and is_main:
        print(f"{out / STATE_FILE}: no checkpoint yet, starting from scratch", file=sys.stderr)
    if saved is not None:
        _check_resume(saved, cfg)
    elif cfg.head_init == "probe" and data.num_photos:
        # linear probe, then fine-tune (LP-FT): the backbone starts from a head that
        # already ranks, instead of being shaken by a random one
        fit_linear_probe(model, data, progress=progress and is_main)
    else:
        _init_embedding_head(model, images, device)
    _restrict_trainable(model, cfg.trainable_blocks)
    model = model.to(memory_format=torch.channels_last)
    # the starting point (pretrained backbone + initial head), kept for WiSE-FT
    init_state = (
        saved["init_state_dict"]
        if saved is not None
        else {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    )

    teacher = None
    if cfg.multitask == "distill":
        # a frozen copy of the pretrained network, taken before any fine-tuning
        teacher = copy.deepcopy(model.backbone).eval().requires_grad_(False)
    pair_loss = build_pair_loss(cfg)
    memory = CatalogMemory(images, cfg.memory_refresh) if cfg.catalog_memory else None
    miner = BatchPairMiner(negatives=cfg.negatives, photo_photo=cfg.photo_photo)
    distill = DistillationLoss(cfg.temperature)

    sampler = ProductBatchSampler(
        [len(p.photos) for p in data.products],
        [len(p.catalog) for p in data.products],
        products_per_batch=cfg.products_per_batch,
        photos_per_product=cfg.photos_per_product,
        simulated_fraction=cfg.simulated_fraction,
        batches_per_epoch=cfg.batches_per_epoch,
        seed=cfg.seed,
        skip_photoless=cfg.catalog_only == "skip",
        rank=rank,
        world_size=world,
    )
    loader = DataLoader(
        images,
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        persistent_workers=cfg.num_workers > 0,
    )
    has_photos = torch.tensor([bool(p.photos) for p in data.products], device=device)
    head = [p for n, p in model.named_parameters() if n.startswith("embed.") and p.requires_grad]
    body = [
        p for n, p in model.named_parameters() if not n.startswith("embed.") and p.requires_grad
    ]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.lr * cfg.head_lr_mult}],
        weight_decay=cfg.weight_decay,
        fused=True,  # one kernel for all parameters: ~4x faster steps than the default on CPU
    )
    total_steps = cfg.epochs * len(sampler)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, cfg.warmup_fraction)
    )
    # exponential moving average of the weights: what is evaluated and shipped when on
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay
        else None
    )
    shipped = ema.module if ema is not None else model
    history: list[dict] = []
    start_epoch = 0
    if saved is not None:
        model.load_state_dict(saved["state_dict"])
        if ema is not None:
            ema.load_state_dict(saved["ema_state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        restore_rng_state(saved["rng"])
        history = json.loads(saved["history"])
        start_epoch = int(saved["epoch"]) + 1
        if is_main:
            print(f"resuming {out} after epoch {start_epoch}", file=sys.stderr)

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None
        )
    t_run = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        torch.manual_seed(cfg.seed * 1000 + epoch)
        net.train()
        if cfg.freeze_bn:
            _freeze_batchnorm(net)
        sums = {"loss": 0.0, "pair": 0.0, "multitask": 0.0, "pos_pairs": 0, "neg_pairs": 0}
        n_images, t0 = 0, time.time()
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            unit="batch",
            disable=not (progress and is_main),
            leave=False,
        )
        for step, (x, labels, kind) in enumerate(bar):
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            labels, kind = labels.to(device), kind.to(device)
            is_photo = kind > 0
            if memory is not None:
                memory.refresh(model, device, epoch * len(sampler) + step)
                if cfg.freeze_bn:
                    _freeze_batchnorm(net)
            with autocast:
                emb, logits = net(x, with_logits=True)
            emb, logits = emb.float(), logits.float()  # losses in float32
            if memory is not None:
                emb_all, labels_all, photo_all = memory.extend(emb, labels, is_photo)
            else:
                emb_all, labels_all, photo_all = emb, labels, is_photo
            if isinstance(pair_loss, CatalogSoftmaxLoss):
                is_sim = nn.functional.pad(kind == 2, (0, len(emb_all) - len(emb)))
                l_pair = _softmax_loss(
                    pair_loss, emb_all, labels_all, photo_all, is_sim, has_photos, cfg
                )
                npos, nneg = 0, 0
            else:
                pairs = miner(emb_all.detach(), labels_all, photo_all)
                l_pair, (npos, nneg) = pair_loss(emb_all, pairs), pairs.counts
            l_mt = torch.zeros((), device=device)
            if teacher is not None:
                with torch.no_grad(), autocast:
                    t_logits = teacher.classify(teacher(x)).float()
                l_mt = distill(logits, t_logits)
            elif aux is not None:
                ax, ay = aux.batch(epoch * len(sampler) + step, cfg.aux_batch, pre)
                ax = ax.to(device).contiguous(memory_format=torch.channels_last)
                with autocast:
                    _, a_logits = net(ax, with_logits=True)
                l_mt = nn.functional.cross_entropy(a_logits.float(), ay.to(device))
            loss = l_pair + cfg.mt_weight * l_mt
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            n_images += len(x)
            for k, v in (
                ("loss", loss.item()),
                ("pair", l_pair.item()),
                ("multitask", l_mt.item()),
                ("pos_pairs", npos),
                ("neg_pairs", nneg),
            ):
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
            lr=scheduler.get_last_lr()[0],
        )
        if is_main:
            if val is not None:
                record.update(_val_metrics(shipped, val, device))
            history.append(record)
            state = _state(model, optimizer, scheduler, cfg, epoch, history, init_state)
            if ema is not None:
                state["ema_state_dict"] = ema.state_dict()
            save_atomic(state, out / STATE_FILE)
            msg = (
                f"epoch {epoch + 1}/{cfg.epochs}: loss {record['loss']:.4f} "
                f"(pair {record['pair']:.4f}, multitask {record['multitask']:.4f}), "
                f"{record['images_per_s']:.1f} img/s"
            )
            if val is not None:
                msg += f", val top-1 {record['val_top1']:.3f} top-5 {record['val_top5']:.3f}"
            print(msg, file=sys.stderr, flush=True)
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    if is_main and cfg.wise_alpha < 1.0 and history:
        tuned = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        model.load_state_dict(interpolate_weights(init_state, tuned, cfg.wise_alpha))
        record = {"epoch": "wise-ft", "wise_alpha": cfg.wise_alpha}
        if val is not None:
            record.update(_val_metrics(model, val, device))
            print(
                f"WiSE-FT alpha {cfg.wise_alpha}: val top-1 {record['val_top1']:.3f} "
                f"top-5 {record['val_top5']:.3f}",
                file=sys.stderr,
                flush=True,
            )
        history.append(record)
    if is_main:
        payload = model_payload(model)
        payload["train_config"] = cfg.to_dict()
        payload["history"] = json.dumps(history)
        save_atomic(payload, out / MODEL_FILE)
        write_text_atomic(out / "history.json", json.dumps(history, indent=2) + "\n")
        last = history[-1] if history else {}
        summary = (
            f"trained {cfg.epochs} epochs in {time.time() - t_run:.0f} s -> {out / MODEL_FILE}"
        )
        if "val_top1" in last:
            summary += f" (val top-1 {last['val_top1']:.3f}, top-5 {last['val_top5']:.3f})"
        print(summary, flush=True)
    if world > 1:
        dist.destroy_process_group()
    return {"history": history}


def _softmax_loss(
    loss: CatalogSoftmaxLoss,
    emb: torch.Tensor,
    labels: torch.Tensor,
    is_photo: torch.Tensor,
    is_sim: torch.Tensor,
    has_photos: torch.Tensor,
    cfg: TrainConfig,
) -> torch.Tensor:
    """The catalog softmax of a batch; with ``cfg.isolate_simulated`` real photos are
    scored only against products that have real photos, simulated ones against every
    catalog row, and the two terms are averaged per query."""
    if not cfg.isolate_simulated:
        return loss(emb, labels, is_photo)
    real, catalog = is_photo & ~is_sim, ~is_photo
    n_real, n_sim = int(real.sum()), int(is_sim.sum())
    l_real = loss(emb, labels, real, catalog & has_photos[labels])
    l_sim = loss(emb, labels, is_sim, catalog)
    return (n_real * l_real + n_sim * l_sim) / max(1, n_real + n_sim)


def _val_metrics(model: EmbeddingNet, val: Dataset, device: torch.device) -> dict:
    """The history fields of one validation pass: val_top1, val_top5, val_map."""
    result = evaluate_model(model, val, device=device, progress=False)
    return {"val_top1": result.top1, "val_top5": result.top5, "val_map": result.map}


def _state(
    model, optimizer, scheduler, cfg: TrainConfig, epoch: int, history: list, init_state: dict
) -> dict:
    return {
        **model_payload(model),
        "format": CHECKPOINT_FORMAT,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "epoch": epoch,
        "train_config": cfg.to_dict(),
        "history": json.dumps(history),
        "init_state_dict": init_state,  # the starting weights, for WiSE-FT after a resume
    }
