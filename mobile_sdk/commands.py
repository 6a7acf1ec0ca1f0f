"""The runtime's ``deepproduct`` commands: ``index``, ``approx-index``, ``search``, ``evaluate``.

They need only the runtime (numpy, Pillow, LiteRT). ``evaluate`` of a model that is not
an exported file (a checkpoint, ``pretrained``) goes to an evaluator registered in the
``deepproduct.evaluators`` entry-point group (the trainer's), so the runtime never
imports the trainer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from mobile_sdk.command import Command, missing_extra
from mobile_sdk.errors import DeepProductError

EVALUATOR_GROUP = "deepproduct.evaluators"
RUNTIME_MODEL_SUFFIXES = (".tflite", ".onnx")
# `deepproduct index` adds each catalog image whole (crop 1.0) beside the model's crop:
# up or level on every yardstick group (README Results, benchmarks/index_views.py)
DEFAULT_EXTRA_CROPS = (1.0,)


def _add_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="exported model (.tflite or .onnx)")
    p.add_argument("--catalog", required=True, help="<root>/catalog (or the dataset root)")
    p.add_argument("--out", required=True, help="index file to write, e.g. catalog.dpi")
    p.add_argument(
        "--dtype",
        choices=("int8", "float32"),
        default="int8",
        help="int8 is ~4x smaller and what the Android demo uses (default)",
    )
    views = p.add_mutually_exclusive_group()
    views.add_argument(
        "--extra-crop",
        type=float,
        action="append",
        metavar="F",
        help="index each catalog image again with centre crop F in (0, 1] (1.0: the whole "
        "image), one more row per image; repeatable. Default: 1.0 (two rows per image: on "
        "the yardstick +0.3 to +2.1 points top-1 on each group's mean, for twice the rows; README)",
    )
    views.add_argument(
        "--single-view",
        action="store_true",
        help="one row per catalog image, the model's crop only (half the index size and "
        "search time, for very large catalogs)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_index(args: argparse.Namespace) -> int:
    from mobile_sdk.atomic_file import check_writable_dir
    from mobile_sdk.embedder import Embedder
    from mobile_sdk.index import ProductIndex

    check_writable_dir(Path(args.out).parent)
    if args.single_view:
        extra_crops: Sequence[float] = ()
    else:
        extra_crops = DEFAULT_EXTRA_CROPS if args.extra_crop is None else args.extra_crop
    with Embedder.from_model_path(args.model) as embedder:
        index = ProductIndex.build(
            embedder,
            args.catalog,
            dtype=args.dtype,
            progress=not args.quiet,
            extra_crops=extra_crops,
        )
    index.save(args.out)
    views = 1 + len(extra_crops)
    rows = f"{len(index)} images" if views == 1 else f"{len(index) // views} images x {views} views"
    print(f"indexed {len(index.product_ids)} products ({rows}, {args.dtype}) -> {args.out}")
    return 0


def _add_approx_index(p: argparse.ArgumentParser) -> None:
    from mobile_sdk import approx_index as ax  # imports USearch only when building

    p.add_argument("--index", required=True, help="an int8 index file from 'deepproduct index'")
    p.add_argument("--out", required=True, help="approximate index to write, e.g. catalog.hnsw")
    p.add_argument(
        "--connectivity",
        type=int,
        default=ax.DEFAULT_CONNECTIVITY,
        help=f"HNSW M (default: {ax.DEFAULT_CONNECTIVITY})",
    )
    p.add_argument(
        "--expansion-add",
        type=int,
        default=ax.DEFAULT_EXPANSION_ADD,
        help=f"HNSW ef at build time (default: {ax.DEFAULT_EXPANSION_ADD})",
    )
    p.add_argument(
        "--expansion-search",
        type=int,
        default=None,
        help="HNSW ef at query time, also the fewest candidate rows per query (default: "
        f"{ax.DEFAULT_EXPANSION_SEARCH} up to {ax.DEFAULT_SEARCH_ROWS:,} rows, growing "
        f"above: {ax.default_expansion_search(3_000_000)} at 3M)",
    )
    p.add_argument("--threads", type=int, default=0, help="build threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_approx_index(args: argparse.Namespace) -> int:
    import time

    from mobile_sdk.approx_index import build_approx_index
    from mobile_sdk.atomic_file import check_writable_dir
    from mobile_sdk.index import ProductIndex

    check_writable_dir(Path(args.out).parent)
    index = ProductIndex.load(args.index)
    t0 = time.perf_counter()
    build_approx_index(
        index,
        args.out,
        connectivity=args.connectivity,
        expansion_add=args.expansion_add,
        expansion_search=args.expansion_search,
        threads=args.threads,
        progress=not args.quiet,
    )
    size_mb = Path(args.out).stat().st_size / 1e6
    print(
        f"HNSW over {len(index):,} rows of {args.index} in {time.perf_counter() - t0:.1f} s "
        f"({size_mb:.1f} MB) -> {args.out}"
    )
    return 0


def _add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="exported model (.tflite or .onnx)")
    p.add_argument("--index", required=True, help="index file written by 'deepproduct index'")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="query photos")
    p.add_argument("--k", type=int, default=5, help="results per photo (default: %(default)s)")
    p.add_argument("--min-score", type=float, help="drop results below this cosine score")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--approx",
        metavar="FILE",
        help="search through this approximate index of --index ('deepproduct approx-index')",
    )


def _run_search(args: argparse.Namespace) -> int:
    from mobile_sdk.image_io import ImageLoadError
    from mobile_sdk.product_search import ProductSearch

    results: dict[str, list | str] = {}
    with ProductSearch.from_files(args.model, args.index) as search:
        if args.approx:
            from mobile_sdk.approx_index import ApproxIndex

            search = ProductSearch(search.embedder, ApproxIndex.load(args.approx, search.index))
        for image in args.images:
            try:
                results[image] = search.search(image, k=args.k, min_score=args.min_score)
            except ImageLoadError as e:  # one unreadable photo does not stop the others
                results[image] = str(e)
    _print_results(results, args.json)
    failed = sum(isinstance(hits, str) for hits in results.values())
    if failed:
        print(
            f"deepproduct search: {failed} of {len(results)} images could not be read",
            file=sys.stderr,
        )
        return 2
    return 0


def _print_results(results: dict[str, list | str], as_json: bool) -> None:
    """Search results (or an image's error message) per image, as JSON or a table."""
    if as_json:
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
        return
    for image, hits in results.items():
        print(image)
        if isinstance(hits, str):
            print(f"  error: {hits}")
        elif not hits:
            print("  no match")
        else:
            for rank, r in enumerate(hits, 1):
                print(f"  {rank}. {r.product_id}  {r.score:.4f}")


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="an exported model (.tflite, .onnx), a checkpoint (model.pt), or "
        "'pretrained' for the un-tuned baseline (those two need the 'train' extra)",
    )
    p.add_argument("--data", required=True, help="dataset root with catalog/ and photos/")
    p.add_argument("--json", help="also write the result as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_evaluate(args: argparse.Namespace) -> int:
    from mobile_sdk.atomic_file import check_writable_dir, write_text_atomic
    from mobile_sdk.dataset_layout import scan_dataset

    dataset = scan_dataset(args.data, require_photos=True)
    if args.json:
        check_writable_dir(Path(args.json).parent)
    if str(args.model).lower().endswith(RUNTIME_MODEL_SUFFIXES):
        # exported files run through the runtime an app uses
        from mobile_sdk.embedder import Embedder
        from mobile_sdk.evaluate import evaluate_embedder

        with Embedder.from_model_path(args.model) as embedder:
            result = evaluate_embedder(embedder, dataset, progress=not args.quiet)
    else:
        result = _other_evaluator()(args.model, dataset, progress=not args.quiet)
    print(f"{args.model} on {args.data}: {result.summary()}")
    if args.json:
        write_text_atomic(
            args.json, json.dumps({**result.to_dict(), "model": str(args.model)}, indent=2) + "\n"
        )
        print(f"wrote {args.json}")
    return 0


def _other_evaluator():
    """The registered evaluator of models that are not exported files (checkpoints).

    Raises:
        MissingExtraError: none is registered, or its extra is not installed.
    """
    for ep in entry_points(group=EVALUATOR_GROUP):
        extra = ep.extras[0] if ep.extras else "train"
        try:
            return ep.load()
        except ModuleNotFoundError as e:
            raise missing_extra(extra, [e.name or ep.module]) from None
    raise UnknownModelError(
        f"no evaluator for models other than {' / '.join(RUNTIME_MODEL_SUFFIXES)} files is "
        "installed: pip install 'deepproduct[train]'"
    )


class UnknownModelError(DeepProductError):
    """``evaluate`` was given a model that nothing installed can run."""


RUNTIME_COMMANDS = (
    Command("evaluate", "retrieval accuracy of a model on a dataset", _add_evaluate, _run_evaluate),
    Command("index", "embed a catalog into a product index file (.dpi)", _add_index, _run_index),
    Command("search", "find the catalog products matching photos", _add_search, _run_search),
    Command(
        "approx-index",
        "an approximate (HNSW) index over an int8 .dpi, for large catalogs (approx extra)",
        _add_approx_index,
        _run_approx_index,
    ),
)
