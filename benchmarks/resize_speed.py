"""``triangle-fixed14`` resize speed: the banded-BLAS passes against the per-tap gather.

The baseline is the implementation ``mobile_sdk.preprocess`` had before (one numpy
gather, multiply and add per filter tap, int32, on a transposed copy for the horizontal
pass), kept here verbatim so both run in the same process. Every timed output is checked
equal, byte for byte, to the baseline's. Runs are interleaved, one thread, so drift on a
busy machine hits both alike; the ratio is the figure to read.

    python benchmarks/resize_speed.py [--sizes 1280x960,4032x3024] [--runs 30]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.frames import synthetic_frame  # noqa: E402
from mobile_sdk.errors import run_reporting_errors  # noqa: E402
from mobile_sdk.preprocess import (  # noqa: E402
    WEIGHT_BITS,
    plan_resize,
    resize_and_crop,
    resize_weights,
)
from mobile_sdk.preprocess_config import PreprocessConfig  # noqa: E402

CONFIG = PreprocessConfig.from_json(
    '{"crop_fraction":0.875,"input_size":224,"mean":[127.0,127.0,127.0],'
    '"resize":"triangle-fixed14","std":[128.0,128.0,128.0]}'
)


def gather_resize_and_crop(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The previous implementation of ``resize_and_crop`` (per-tap gathers, int32)."""
    plan = plan_resize(image.shape[1], image.shape[0], config)
    in_h, in_w = image.shape[:2]

    def axis(in_size: int, out_size: int, start: int, count: int):
        if in_size == out_size:
            return np.arange(start, start + count), None
        index, weight = resize_weights(in_size, out_size)
        return index[start : start + count], weight[start : start + count]

    def swap_xy(img: np.ndarray) -> np.ndarray:
        img = np.ascontiguousarray(img)
        packed = img.view("V3")[:, :, 0]
        h, w = packed.shape
        return np.ascontiguousarray(packed.T).view(np.uint8).reshape(w, h, 3)

    def resample(src: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
        acc = np.full((index.shape[0],) + src.shape[1:], 1 << (WEIGHT_BITS - 1), np.int32)
        term = np.empty_like(acc)
        for k in range(index.shape[1]):
            np.multiply(src[index[:, k]], weight[:, k, None, None], out=term)
            acc += term
        acc >>= WEIGHT_BITS
        return acc.astype(np.uint8)

    v_index, v_weight = axis(in_h, plan.resized_height, plan.top, plan.size)
    h_index, h_weight = axis(in_w, plan.resized_width, plan.left, plan.size)
    lo, hi = int(v_index.min()), int(v_index.max())
    rows = image[lo : hi + 1]
    v_index = v_index - lo
    mid = (
        rows[:, h_index]
        if h_weight is None
        else swap_xy(resample(swap_xy(rows), h_index, h_weight))
    )
    return (
        np.ascontiguousarray(mid[v_index]) if v_weight is None else resample(mid, v_index, v_weight)
    )


def main(argv: list[str] | None = None) -> int:
    """Time both implementations on synthetic frames; print a table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1280x960,4032x3024", help="WxH, comma-separated")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    print("| input | gather p50 ms | banded p50 ms | speed-up |\n|---|---|---|---|")
    for text in args.sizes.split(","):
        w, h = (int(v) for v in text.lower().split("x"))
        image = synthetic_frame((w, h))
        expected = gather_resize_and_crop(image, CONFIG)
        if not np.array_equal(resize_and_crop(image, CONFIG), expected):
            raise AssertionError(f"{text}: the two implementations differ")
        times: dict[str, list[float]] = {"gather": [], "banded": []}
        fns = {"gather": gather_resize_and_crop, "banded": resize_and_crop}
        for i in range(args.runs):
            for name in ["gather", "banded"] if i % 2 else ["banded", "gather"]:
                t0 = time.thread_time()
                fns[name](image, CONFIG)
                times[name].append((time.thread_time() - t0) * 1e3)
        g, b = np.median(times["gather"]), np.median(times["banded"])
        print(f"| {w}x{h} | {g:.2f} | {b:.2f} | {g / b:.1f}x |")
    print(f"timed {args.runs} interleaved runs per size on one thread (thread CPU time)")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
