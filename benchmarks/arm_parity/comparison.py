"""The host's comparison of the arm64 results with the bundle (step 6)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.arm_parity.guest import TOP_K

FP32_MIN_COSINE = 0.99999


def output_step(model: Path) -> float | None:
    """The int8 output's quantization step (scale) of a ``.tflite`` model, or None.

    The exported int8 model ends in DEQUANTIZE: its float output is ``scale * (q -
    zero_point)`` of an int8 tensor of the same shape, so one step of ``q`` is
    ``scale``.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    shape = tuple(interpreter.get_output_details()[0]["shape"])
    steps = [
        (t["index"], float(t["quantization"][0]))
        for t in interpreter.get_tensor_details()
        if t["dtype"] in (np.int8, np.uint8)
        and tuple(t["shape"]) == shape
        and t["quantization"][0] > 0
    ]
    return max(steps)[1] if steps else None


def _same_ranking(expected: Sequence, got: Sequence, tolerance: float) -> tuple[bool, bool]:
    """(identical, identical up to ties): ids in order; a swap counts as a tie when the
    two products' expected scores are within ``tolerance``."""
    exp_ids = [h[0] for h in expected]
    got_ids = [h[0] for h in got]
    if exp_ids == got_ids:
        return True, True
    if sorted(exp_ids) != sorted(got_ids):
        return False, False
    score = {pid: s for pid, s in expected}
    ties = all(abs(score[a] - score[b]) <= tolerance for a, b in zip(exp_ids, got_ids, strict=True))
    return False, ties


def compare(bundle: Path, arm: dict[str, Any], precision: str) -> dict[str, Any]:
    """Check one bundle's arm64 results against the x86 values stored in it."""
    from mobile_sdk.index import ProductIndex

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    dim = manifest["index"]["dimension"]
    n = len(manifest["inputs"])
    x86_raw = np.fromfile(bundle / manifest["embeddings"]["raw"], "<f4").reshape(n, -1)
    x86_norm = np.fromfile(bundle / manifest["embeddings"]["normalized"], "<f4").reshape(n, -1)
    arm_raw = np.array([i["raw"] for i in arm["inputs"]], np.float32)
    fingerprint = manifest["index"]["fingerprint"]
    indexes = {
        dtype: ProductIndex.load(bundle / f["file"], expected_fingerprint=fingerprint)
        for dtype, f in manifest["index"]["files"].items()
    }
    tolerance = dim * 2.0**-23  # float32 score tolerance (INDEX_FORMAT.md, golden notes)
    a, b = arm_raw.astype(np.float64), x86_raw.astype(np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    max_abs = float(np.abs(a - b).max())
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    exact = sum(i["tensor_bit_exact"] for i in arm["inputs"])
    check("preprocessed tensors bit-identical", exact == n, f"{exact}/{n} inputs")
    if precision == "int8":
        step = output_step(bundle / manifest["model"]["file"])
        if step is None:
            check(
                f"model output cosine >= {FP32_MIN_COSINE}",
                cosine.min() >= FP32_MIN_COSINE,
                f"no int8 output tensor; min cosine {cosine.min():.7f}",
            )
        else:
            steps = max_abs / step
            check(
                "int8 model output within one quantization step",
                steps <= 1 + 1e-6,
                f"max abs diff arm vs x86 = {max_abs:.3g} = {steps:.2f} steps of {step:.3g}; "
                f"min cosine {cosine.min():.7f}",
            )
    else:
        check(
            f"fp32 model output cosine >= {FP32_MIN_COSINE}",
            cosine.min() >= FP32_MIN_COSINE,
            f"min cosine {cosine.min():.9f}, max abs diff arm vs x86 = {max_abs:.3g}",
        )
    for dtype, index in indexes.items():
        same = tied = 0
        for j, item in enumerate(arm["inputs"]):
            expected = [[h.product_id, h.score] for h in index.search(x86_norm[j], TOP_K)]
            s, t = _same_ranking(
                expected, item["top"][dtype], tolerance if dtype == "float32" else 0
            )
            same, tied = same + s, tied + t
        ok = tied == n if dtype == "float32" else same == n
        check(
            f"top-{TOP_K} of every input, {dtype} index",
            ok,
            f"{same}/{n} identical"
            + (f", {tied}/{n} up to float ties" if dtype == "float32" else ""),
        )
    same = tied = 0
    searches = manifest["index"]["searches"]
    for s, got in zip(searches, arm["searches"], strict=True):
        expected = [[h["id"], h["score"]] for h in s["expected"]]
        if s["dtype"] == "int8":  # bit-exact scores by INDEX_FORMAT.md section 4
            ok = expected == got
            same, tied = same + ok, tied + ok
        else:
            a_ok, t_ok = _same_ranking(expected, got, tolerance)
            close = all(abs(e[1] - g[1]) <= tolerance for e, g in zip(expected, got, strict=False))
            same, tied = same + a_ok, tied + (t_ok and close)
    check(
        "stored searches (int8 bit-exact, float32 within tolerance)",
        tied == len(searches),
        f"{same}/{len(searches)} identical, {tied}/{len(searches)} within float ties",
    )
    return {
        "bundle": str(bundle),
        "precision": precision,
        "inputs": n,
        "min_cosine": float(cosine.min()),
        "max_abs_diff": max_abs,
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
    }
