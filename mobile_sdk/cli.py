"""``deepproduct`` command line: one entry point, one subcommand per job.

Training and export need the ``[train]`` / ``[export]`` extras; their modules are
imported only when their subcommand runs, so the runtime install stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mobile_sdk.errors import DeepProductError


class MissingExtraError(DeepProductError):
    """A subcommand needs an optional dependency that is not installed."""


def _require(extra: str, module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise MissingExtraError(
            f"this command needs the '{extra}' extra ({e.name} is missing): "
            f"pip install 'deepproduct[{extra}]'"
        ) from None


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune an embedding model on a dataset",
        description="Multitask fine-tuning with the robust contrastive loss.",
    )
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
    from_defaults = {
        "epochs": int,
        "products_per_batch": int,
        "photos_per_product": int,
        "simulated_fraction": float,
        "batches_per_epoch": int,
        "loss": str,
        "pos_margin": float,
        "neg_margin": float,
        "pos_cap": float,
        "neg_floor": float,
        "negatives": str,
        "multitask": str,
        "aux_data": str,
        "aux_batch": int,
        "mt_weight": float,
        "temperature": float,
        "lr": float,
        "head_lr_mult": float,
        "weight_decay": float,
        "trainable_blocks": int,
        "embedding_dim": int,
        "backbone": str,
        "seed": int,
        "num_workers": int,
        "memory_refresh": int,
        "head_init": str,
    }
    for name, typ in from_defaults.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, dest=name, default=None)
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
        help="negatives from every catalog image (a refreshed memory), not only the batch's",
    )
    p.add_argument(
        "--no-freeze-bn",
        action="store_false",
        dest="freeze_bn",
        default=None,
        help="update BatchNorm statistics during fine-tuning",
    )
    p.set_defaults(
        func=_cmd_train,
        train_fields=list(from_defaults) + ["photo_photo", "catalog_memory", "freeze_bn"],
    )


def _cmd_train(args: argparse.Namespace) -> int:
    _require("train", "torch")
    from trainer.train import TrainConfig, train

    data, val = args.data, args.val
    if data is None:
        from trainer.synthetic import generate_builtin

        train_dir, val_dir = generate_builtin(args.builtin_dir, progress=not args.quiet)
        data, val = str(train_dir), val or str(val_dir)
    given = {k: getattr(args, k) for k in args.train_fields if getattr(args, k) not in (None,)}
    if not given.get("photo_photo"):
        given.pop("photo_photo", None)
    cfg = TrainConfig(data=data, out=args.out, val=val, **given)
    train(cfg, resume=args.resume, progress=not args.quiet)
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="retrieval accuracy of a model on a dataset")
    p.add_argument(
        "--model",
        required=True,
        help="an exported model (.tflite, .onnx), a checkpoint (model.pt), or "
        "'pretrained' for the un-tuned baseline",
    )
    p.add_argument("--data", required=True, help="dataset root with catalog/ and photos/")
    p.add_argument("--json", help="also write the result as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from mobile_sdk.atomic_file import write_text_atomic
    from mobile_sdk.dataset_layout import scan_dataset

    dataset = scan_dataset(args.data, require_photos=True)
    if str(args.model).lower().endswith((".tflite", ".onnx")):
        # exported files run through the runtime an app uses, no torch needed
        from mobile_sdk.embedder import Embedder
        from mobile_sdk.evaluate import evaluate_embedder

        with Embedder.from_model_path(args.model) as embedder:
            result = evaluate_embedder(embedder, dataset, progress=not args.quiet)
    else:
        _require("train", "torch")
        from trainer.evaluate import evaluate_model, load_eval_model

        model = load_eval_model(args.model)
        result = evaluate_model(model, dataset, progress=not args.quiet)
    print(f"{args.model} on {args.data}: {result.summary()}")
    if args.json:
        write_text_atomic(
            args.json, json.dumps({**result.to_dict(), "model": str(args.model)}, indent=2) + "\n"
        )
        print(f"wrote {args.json}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="convert a checkpoint to TFLite (int8, fp16, fp32) and ONNX (fp32, int8)",
        description="Export a trained checkpoint for phones: dist/model.tflite (int8, "
        "the shipped model) plus fp16/fp32 TFLite, fp32/int8 ONNX and a report.",
    )
    p.add_argument("--checkpoint", required=True, help="model.pt written by 'deepproduct train'")
    p.add_argument(
        "--calib", required=True, help="dataset root whose images calibrate int8 (a few hundred)"
    )
    p.add_argument("--out", required=True, help="output folder, e.g. dist/")
    p.add_argument(
        "--val", help="dataset root for retrieval accuracy and the int8 guard (recommended)"
    )
    p.add_argument(
        "--calib-images",
        type=int,
        default=200,
        help="calibration images, catalog and photos mixed (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="picks the calibration images")
    p.add_argument("--name", help="model name in the metadata (default: from the architecture)")
    p.add_argument("--model-version", default="1", help="model version in the metadata")
    p.add_argument(
        "--max-top1-gap",
        type=float,
        default=0.01,
        help="int8 guard: allowed top-1 loss against fp32 (default: %(default)s = 1 point)",
    )
    p.add_argument(
        "--max-size-mb",
        type=float,
        default=5.5,
        help="size limit of model.tflite in MB (default: %(default)s)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit non-zero when the int8 guard fails or model.tflite is over the size limit",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    # find_spec, not import: the converters print warnings on import, which the
    # export captures once it runs them.
    tools = ("litert_torch", "ai_edge_quantizer", "onnx", "onnxruntime", "mediapipe")
    missing = [m for m in tools if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"this command needs the 'export' extra ({', '.join(missing)} missing): "
            "pip install 'deepproduct[export]'"
        )
    pipeline = _require("export", "export.pipeline")

    options = pipeline.ExportOptions(
        checkpoint=Path(args.checkpoint),
        calib=Path(args.calib),
        out=Path(args.out),
        val=Path(args.val) if args.val else None,
        calib_images=args.calib_images,
        seed=args.seed,
        name=args.name,
        version=args.model_version,
        max_top1_gap=args.max_top1_gap,
        max_model_bytes=int(round(args.max_size_mb * 1e6)),
        strict=args.strict,
        progress=not args.quiet,
    )
    result = pipeline.export_checkpoint(options)
    print(result.summary())
    return 0


def _add_split(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("split", help="product-disjoint split of a dataset (links, no copies)")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="writes OUT/train and OUT/heldout")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.25,
        help="fraction of products held out (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_split)


def _cmd_split(args: argparse.Namespace) -> int:
    from mobile_sdk.dataset_split import split_products

    train_dir, held_dir, n_train, n_held = split_products(
        args.data, args.out, args.holdout, args.seed
    )
    print(f"wrote {n_train} products to {train_dir} and {n_held} held-out products to {held_dir}")
    return 0


def _add_make_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-dataset", help="generate the built-in synthetic dataset (OUT/train, OUT/val)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--products", type=int, default=40)
    p.add_argument("--photos", type=int, default=12, help="training photos per product")
    p.add_argument("--val-photos", type=int, default=4, help="validation photos per product")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_make_dataset)


def _cmd_make_dataset(args: argparse.Namespace) -> int:
    from trainer.synthetic import generate_builtin

    train, val = generate_builtin(
        args.out, args.products, args.photos, args.val_photos, seed=args.seed
    )
    print(
        f"wrote {args.products} products: {args.products * args.photos} training photos to "
        f"{train}, {args.products * args.val_photos} validation photos to {val}"
    )
    return 0


def _add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="embed a catalog into a product index file (.dpi)")
    p.add_argument("--model", required=True, help="exported model (.tflite or .onnx)")
    p.add_argument("--catalog", required=True, help="<root>/catalog (or the dataset root)")
    p.add_argument("--out", required=True, help="index file to write, e.g. catalog.dpi")
    p.add_argument(
        "--dtype",
        choices=("int8", "float32"),
        default="int8",
        help="int8 is ~4x smaller and what the Android demo uses (default)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_index)


def _cmd_index(args: argparse.Namespace) -> int:
    from mobile_sdk.embedder import Embedder
    from mobile_sdk.index import ProductIndex

    with Embedder.from_model_path(args.model) as embedder:
        index = ProductIndex.build(
            embedder, args.catalog, dtype=args.dtype, progress=not args.quiet
        )
    index.save(args.out)
    print(
        f"indexed {len(index.product_ids)} products ({len(index)} images, {args.dtype}) "
        f"-> {args.out}"
    )
    return 0


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="find the catalog products matching photos")
    p.add_argument("--model", required=True, help="exported model (.tflite or .onnx)")
    p.add_argument("--index", required=True, help="index file written by 'deepproduct index'")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="query photos")
    p.add_argument("--k", type=int, default=5, help="results per photo (default: %(default)s)")
    p.add_argument("--min-score", type=float, help="drop results below this cosine score")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> int:
    from mobile_sdk.embedder import Embedder
    from mobile_sdk.image_io import ImageLoadError
    from mobile_sdk.index import ProductIndex

    results: dict[str, list | str] = {}
    with Embedder.from_model_path(args.model) as embedder:
        index = ProductIndex.load(args.index, expected_fingerprint=embedder.fingerprint)
        for image in args.images:
            try:
                vector = embedder.embed(image)
            except ImageLoadError as e:  # one unreadable photo does not stop the others
                results[image] = str(e)
                continue
            results[image] = index.search(vector, k=args.k, min_score=args.min_score)
    failed = [image for image, hits in results.items() if isinstance(hits, str)]
    if args.json:
        print(
            json.dumps(
                {
                    image: {"error": hits}
                    if isinstance(hits, str)
                    else [{"product_id": r.product_id, "score": round(r.score, 6)} for r in hits]
                    for image, hits in results.items()
                },
                indent=2,
            )
        )
    else:
        for image, hits in results.items():
            print(image)
            if isinstance(hits, str):
                print(f"  error: {hits}")
            elif not hits:
                print("  no match")
            else:
                for rank, r in enumerate(hits, 1):
                    print(f"  {rank}. {r.product_id}  {r.score:.4f}")
    if failed:
        print(
            f"deepproduct search: {len(failed)} of {len(results)} images could not be read",
            file=sys.stderr,
        )
        return 2
    return 0


def _add_golden(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("golden", help="write the golden files the Android core is tested against")
    p.add_argument("--model", required=True, help="exported model (.tflite)")
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--catalog", help="index this catalog instead of the generated inputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_golden)


def _cmd_golden(args: argparse.Namespace) -> int:
    from mobile_sdk.golden import summary, write_golden

    out = write_golden(args.model, args.out, args.catalog, progress=not args.quiet)
    print(summary(out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``deepproduct`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="deepproduct", description="DeepProduct: mobile product search."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_train,
        _add_evaluate,
        _add_export,
        _add_index,
        _add_search,
        _add_split,
        _add_make_dataset,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with a clear message)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DeepProductError as e:
        print(f"deepproduct {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deepproduct {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
