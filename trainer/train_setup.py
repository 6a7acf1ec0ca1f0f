"""Run setup for ``trainer.train``: the data, the model, its starting head, the losses,
batches, optimizer and schedule of a run, or all of them restored from its checkpoint.

:func:`setup_run` does it in a fixed order (the random draws depend on it, and a resumed
run must continue bit for bit) and returns a :class:`TrainingRun`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from mobile_sdk.atomic_file import check_writable_dir
from mobile_sdk.dataset_layout import Dataset, scan_dataset
from mobile_sdk.errors import DeepProductError
from trainer.auxiliary import AuxiliaryImages
from trainer.catalog_memory import CatalogMemory
from trainer.checkpoint import STATE_FILE, load_training_state, restore_rng_state
from trainer.head_only import fit_linear_probe
from trainer.losses import (
    AuxiliaryClassificationTerm,
    CatalogSoftmaxLoss,
    ContrastiveLoss,
    DistillationTerm,
    MultitaskTerm,
    RobustContrastiveLoss,
)
from trainer.miners import BatchPairMiner
from trainer.model import EmbeddingNet, ModelConfig
from trainer.sampler import ProductBatchSampler
from trainer.train_config import TrainConfig, TrainConfigError
from trainer.training_images import TrainingImages


class ResumeError(DeepProductError, ValueError):
    """``--resume`` was asked for a run whose settings differ from the saved one."""


@dataclass
class TrainingRun:
    """Everything a run's epochs use, set up by :func:`setup_run`.

    ``model`` is the bare network (what is saved); ``net`` is what the steps call (the
    DistributedDataParallel wrapper under torchrun, else ``model``); ``shipped`` is what
    is evaluated and shipped (the weights' moving average with ``ema_decay``, else
    ``model``). ``init_state`` is the starting point, kept for WiSE-FT.
    """

    cfg: TrainConfig
    out: Path
    rank: int
    world: int
    device: torch.device
    autocast: contextlib.AbstractContextManager
    data: Dataset
    val: Dataset | None
    model: EmbeddingNet
    net: nn.Module
    shipped: nn.Module
    ema: AveragedModel | None
    init_state: dict
    pair_loss: ContrastiveLoss | CatalogSoftmaxLoss
    miner: BatchPairMiner
    memory: CatalogMemory | None
    multitask: MultitaskTerm
    has_photos: torch.Tensor
    sampler: ProductBatchSampler
    loader: DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    history: list[dict]
    start_epoch: int

    @property
    def is_main(self) -> bool:
        """Whether this process reports and writes files (rank 0)."""
        return self.rank == 0


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


def freeze_batchnorm(model: nn.Module) -> None:
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


def setup_run(cfg: TrainConfig, resume: bool, progress: bool) -> TrainingRun:
    """Set up (or, with ``resume``, restore) the run ``cfg`` describes.

    Raises:
        DatasetError, OutputError, ResumeError, TrainConfigError: see ``trainer.train.train``.
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

    multitask = MultitaskTerm()
    if cfg.multitask == "distill":
        # a frozen copy of the pretrained network, taken before any fine-tuning
        teacher = copy.deepcopy(model.backbone).eval().requires_grad_(False)
        multitask = DistillationTerm(teacher, cfg.temperature)
    elif aux is not None:
        multitask = AuxiliaryClassificationTerm(aux, cfg.aux_batch, pre, device)
    pair_loss = build_pair_loss(cfg)
    memory = CatalogMemory(images, cfg.memory_refresh) if cfg.catalog_memory else None
    miner = BatchPairMiner(negatives=cfg.negatives, photo_photo=cfg.photo_photo)

    sampler = ProductBatchSampler(
        [len(p.photos) for p in data.products],
        [len(p.catalog) for p in data.products],
        products_per_batch=cfg.products_per_batch,
        photos_per_product=cfg.photos_per_product,
        simulated_fraction=cfg.simulated_fraction,
        batches_per_epoch=cfg.batches_per_epoch,
        seed=cfg.seed,
        skip_photoless=cfg.catalog_only == "skip",
        photoless_catalog_only=cfg.catalog_only == "catalog-views",
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
        if memory is not None and "catalog_memory" in saved:
            memory.embeddings = saved["catalog_memory"].to(device)
        history = json.loads(saved["history"])
        start_epoch = int(saved["epoch"]) + 1
        if is_main:
            print(f"resuming {out} after epoch {start_epoch}", file=sys.stderr)

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None
        )
    return TrainingRun(
        cfg=cfg,
        out=out,
        rank=rank,
        world=world,
        device=device,
        autocast=autocast,
        data=data,
        val=val,
        model=model,
        net=net,
        shipped=shipped,
        ema=ema,
        init_state=init_state,
        pair_loss=pair_loss,
        miner=miner,
        memory=memory,
        multitask=multitask,
        has_photos=has_photos,
        sampler=sampler,
        loader=loader,
        optimizer=optimizer,
        scheduler=scheduler,
        history=history,
        start_epoch=start_epoch,
    )
