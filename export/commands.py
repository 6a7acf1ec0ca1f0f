"""The ``deepproduct export`` and ``deepproduct golden`` commands, registered in
``setup.py``'s ``deepproduct.commands`` entry-point group (see ``mobile_sdk.cli``).
Imports no converter until it runs.
"""

from __future__ import annotations

import argparse

from mobile_sdk.command import Command

# find_spec, not import, decides whether the command is offered: the converters print
# warnings on import, which the export captures once it runs them.
EXPORT_MODULES = ("torch", "litert_torch", "ai_edge_quantizer", "onnx", "onnxruntime", "mediapipe")


def _add_export(p: argparse.ArgumentParser) -> None:
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


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from export import pipeline

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


EXPORT = Command(
    "export",
    "convert a checkpoint to TFLite (int8, fp16, fp32) and ONNX (fp32, int8)",
    _add_export,
    _run_export,
    description="Export a trained checkpoint for phones: dist/model.tflite (int8, "
    "the shipped model) plus fp16/fp32 TFLite, fp32/int8 ONNX and a report.",
    extra="export",
    requires=EXPORT_MODULES,
)


def _add_golden(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="exported model (.tflite)")
    p.add_argument("--out", required=True, help="bundle folder to (re)write")
    p.add_argument("--catalog", help="<root>/catalog whose images become the index rows")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_golden(args: argparse.Namespace) -> int:
    from export.golden import summary, write_golden

    out = write_golden(args.model, args.out, args.catalog, progress=not args.quiet)
    print(summary(out))
    return 0


# Needs only the runtime: the bundle is what the runtime computes for an exported model.
GOLDEN = Command(
    "golden",
    "write the golden files the Android core is tested against",
    _add_golden,
    _run_golden,
)
