"""The int8 accuracy guard: quantize, check retrieval against fp32, remedy if needed.

``model.tflite`` ships in int8 only when its top-1 on the evaluation set stays within
``max_top1_gap`` of the fp32 model; otherwise the most sensitive ops are kept in float
(the remedy ladder below) until it does, within the size limit.
"""

from __future__ import annotations

from export.export_inputs import ExportInputs
from export.metadata import add_tflite_metadata
from export.parity import agreement
from export.quantize import Int8Plan, Int8Quantizer, OpInfo, run_tflite
from export.report import GuardResult, Int8Attempt
from mobile_sdk.model_metadata import ModelMetadata

# Remedy ladder: keep the k most sensitive ops in float, for growing k.
REMEDY_STEPS = (1, 2, 4, 8, 16)
SENSITIVITY_IMAGES = 32


def quantize_guarded(
    fp32: bytes,
    inputs: ExportInputs,
    meta: ModelMetadata,
    target: str,
    max_top1_gap: float,
    max_model_bytes: int,
) -> tuple[GuardResult, bytes]:
    """Quantize to int8; when the guard fails, keep the most sensitive ops in float.

    The remedy ranks ops by how much floating each one alone reduces the int8 error
    on a few calibration images (never the evaluation set), then adds them greedily,
    skipping any that would push ``model.tflite`` over the size limit, and checks the
    guard after 1, 2, 4, 8 and 16 float ops. The first plan that passes is shipped;
    if none does, the most accurate one is, and the guard reports the failure.

    ``target`` names the model in the quantizer's messages; ``max_top1_gap`` is the
    allowed top-1 loss against fp32, ``max_model_bytes`` the size limit.

    Returns the guard outcome (with every attempt) and the chosen model, with metadata.
    """
    quantizer = Int8Quantizer(fp32, inputs.calibration, target)
    fp32_out = run_tflite(fp32, inputs.parity)
    fp32_top1 = inputs.retrieval(fp32_out).top1 if inputs.has_val else None
    attempts: list[tuple[Int8Attempt, bytes]] = []

    def build(ops: list[OpInfo]) -> bytes:
        name = f"int8+float[{len(ops)}]" if ops else "int8"
        plan = Int8Plan(name, tuple(op.output_name for op in ops))
        return add_tflite_metadata(quantizer.quantize(plan), meta)

    def evaluate(ops: list[OpInfo], model: bytes, note: str = "") -> Int8Attempt:
        out = run_tflite(model, inputs.parity)
        result = inputs.retrieval(out)
        record = Int8Attempt(
            plan=f"int8+float[{len(ops)}]" if ops else "int8",
            float_ops=[op.short_name for op in ops],
            size=len(model),
            top1=result.top1 if result else None,
            top5=result.top5 if result else None,
            cosine_mean=agreement(fp32_out, out).cosine_mean,
            passed=None if result is None else fp32_top1 - result.top1 <= max_top1_gap,
            note=note,
        )
        attempts.append((record, model))
        return record

    base = evaluate([], build([]))
    if base.passed is False:
        sample = inputs.calibration[:SENSITIVITY_IMAGES]
        ranking = quantizer.sensitivity(sample, run_tflite(fp32, sample))
        floated: list[OpInfo] = []
        too_big: list[str] = []
        for op, gain in ranking:
            if gain <= 0 or len(floated) >= REMEDY_STEPS[-1]:
                break
            model = build(floated + [op])
            if len(model) > max_model_bytes:
                too_big.append(f"#{op.index}")
                continue
            floated.append(op)
            if len(floated) in REMEDY_STEPS:
                note = f"left in int8 for size: {', '.join(too_big)}" if too_big else ""
                if evaluate(list(floated), model, note).passed:
                    break
    chosen = next(((a, m) for a, m in attempts if a.passed), None)
    if chosen is None:
        # nothing passed: ship the most accurate attempt (all are within the size limit)
        chosen = max(attempts, key=lambda am: (am[0].top1 or 0.0, -len(am[0].float_ops)))
    record, model = chosen
    guard = GuardResult(
        max_gap=max_top1_gap,
        fp32_top1=fp32_top1,
        int8_top1=record.top1,
        passed=record.passed,
        chosen_plan=record.plan,
        attempts=[a for a, _ in attempts],
    )
    return guard, model
