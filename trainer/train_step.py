"""One training step: a batch -> embeddings -> pair loss + multitask term -> an update."""

from __future__ import annotations

import torch
from torch import nn

from trainer.losses import CatalogSoftmaxLoss, catalog_view_loss
from trainer.train_config import TrainConfig
from trainer.train_setup import TrainingRun, freeze_batchnorm


def train_step(
    run: TrainingRun,
    x: torch.Tensor,
    labels: torch.Tensor,
    kind: torch.Tensor,
    global_step: int,
) -> dict[str, float]:
    """Forward, loss, backward and one optimizer / schedule / EMA update on a batch.

    Args:
        run: the run (model, losses, optimizer...).
        x: the batch's images; ``labels`` their product index; ``kind`` 0 for a catalog
            image, 1 for a real photo, 2 for a simulated one (``TrainingImages``).
        global_step: epoch * steps per epoch + step (catalog memory refresh, aux batches).

    Returns:
        The step's ``loss``, ``pair`` and ``multitask`` values and the mined
        ``pos_pairs`` / ``neg_pairs`` counts (0 for the catalog softmax).
    """
    cfg, device = run.cfg, run.device
    x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    labels, kind = labels.to(device), kind.to(device)
    is_photo = kind > 0
    if run.memory is not None:
        run.memory.refresh(run.model, device, global_step)
        if cfg.freeze_bn:
            freeze_batchnorm(run.net)
    with run.autocast:
        emb, logits = run.net(x, with_logits=True)
    emb, logits = emb.float(), logits.float()  # losses in float32
    if run.memory is not None:
        emb_all, labels_all, photo_all = run.memory.extend(emb, labels, is_photo)
    else:
        emb_all, labels_all, photo_all = emb, labels, is_photo
    if isinstance(run.pair_loss, CatalogSoftmaxLoss):
        is_sim = nn.functional.pad(kind == 2, (0, len(emb_all) - len(emb)))
        l_pair = softmax_loss(
            run.pair_loss, emb_all, labels_all, photo_all, is_sim, run.has_photos, cfg
        )
        if cfg.catalog_only == "catalog-views" and cfg.catalog_view_weight:
            catalog = ~is_photo
            l_pair = l_pair + cfg.catalog_view_weight * catalog_view_loss(
                run.pair_loss,
                emb[catalog],
                labels[catalog],
                run.memory.embeddings,
                run.memory.labels,
            )
        npos, nneg = 0, 0
    else:
        pairs = run.miner(emb_all.detach(), labels_all, photo_all)
        l_pair, (npos, nneg) = run.pair_loss(emb_all, pairs), pairs.counts
    l_mt = run.multitask(run.net, x, logits, global_step, run.autocast)
    loss = l_pair + cfg.mt_weight * l_mt
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    if run.ema is not None:
        run.ema.update_parameters(run.model)
    return {
        "loss": loss.item(),
        "pair": l_pair.item(),
        "multitask": l_mt.item(),
        "pos_pairs": npos,
        "neg_pairs": nneg,
    }


def softmax_loss(
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
