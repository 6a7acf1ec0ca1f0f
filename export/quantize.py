"""Float32 TFLite -> fp16 and int8 TFLite with ai-edge-quantizer.

int8 is static post-training quantization: int8 weights (symmetric, per output
channel), int8 activations (asymmetric, per tensor, min/max over the calibration
images), float32 model input and output (a QUANTIZE op after the input, a
DEQUANTIZE op before the output), so apps feed the same float tensor to every
variant. A :class:`Int8Plan` may keep some ops in float: the remedy when int8
costs too much retrieval accuracy (see ``export.pipeline``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from export.native_output import captured_native_output
from export.tflite_export import inline_buffers

# Layer names inside litert-torch's tensor names (module paths of the fused ops).
_LAYER = re.compile(
    r"MBConvBlock_(\d+)/[^;]*?__(expand_conv|depthwise_conv|project_conv)"
    r"|__(conv_stem|conv_head)"
)
# Ops that can be kept in float; the EmbeddingNet graph has no others to quantize.
_SENSITIVITY_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MEAN", "TRANSPOSE")


@dataclass(frozen=True)
class Int8Plan:
    """One way to quantize to int8.

    Attributes:
        name: short label for the report (``"int8"``, ``"int8+float[2]"``).
        float_ops: output tensor names of ops kept in float32 (weights and compute).
    """

    name: str = "int8"
    float_ops: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class OpInfo:
    """One op of a TFLite graph: index, type and output tensor name."""

    index: int
    op_type: str
    output_name: str

    @property
    def short_name(self) -> str:
        """``#index TYPE (layer)``, e.g. ``#5 CONV_2D (block 1 project_conv)``."""
        found = _LAYER.findall(self.output_name)
        if not found:
            return f"#{self.index} {self.op_type}"
        block, conv, outer = found[-1]
        where = f"block {block} {conv}" if block else outer
        return f"#{self.index} {self.op_type} ({where})"


def quantize_fp16(fp32_model: bytes, target: str) -> bytes:
    """Float16 weights, float32 compute (dequantized at load time); about half the size.

    Raises:
        ConversionError: the quantizer failed; the message names ``target``.
    """
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

    with captured_native_output(f"{target}: ai-edge-quantizer fp16"):
        q = quantizer.Quantizer(bytearray(fp32_model))
        for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            q.add_weight_only_config(
                regex=".*",
                operation_name=qtyping.TFLOperationName(op),
                num_bits=16,
                algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING,
            )
        result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
        return inline_buffers(bytes(result.quantized_model))


def list_ops(model: bytes) -> list[OpInfo]:
    """The ops of a TFLite model in execution order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    return [
        OpInfo(op["index"], op["op_name"], names.get(op["outputs"][0], ""))
        for op in interpreter._get_ops_details()  # noqa: SLF001 - LiteRT's only op listing
    ]


class Int8Quantizer:
    """Calibrates a float32 model once, then quantizes it under any :class:`Int8Plan`.

    Args:
        fp32_model: the float32 flatbuffer (without metadata).
        calibration: float32 inputs (N, S, S, 3) preprocessed from real images.
        target: the output file, named in errors.

    Raises:
        ConversionError: calibration failed.
    """

    def __init__(self, fp32_model: bytes, calibration: np.ndarray, target: str) -> None:
        self._model = fp32_model
        self._target = target
        with captured_native_output(f"{target}: ai-edge-quantizer calibration"):
            q = self._quantizer(())
            key, input_name = self._signature()
            self._qsvs = q.calibrate(
                {key: [{input_name: x[None]} for x in calibration]}, num_threads=1
            )

    def quantize(self, plan: Int8Plan) -> bytes:
        """The int8 flatbuffer for ``plan``, buffers inline, without metadata.

        Raises:
            ConversionError: the quantizer failed.
        """
        with captured_native_output(f"{self._target}: ai-edge-quantizer int8 ({plan.name})"):
            result = self._quantizer(plan.float_ops).quantize(
                self._qsvs, enable_progress_bar=False, enable_progress_report=False
            )
            return inline_buffers(bytes(result.quantized_model))

    def sensitivity(self, inputs: np.ndarray, reference: np.ndarray) -> list[tuple[OpInfo, float]]:
        """How much keeping each op alone in float reduces the int8 error.

        Args:
            inputs: a few preprocessed images (N, S, S, 3), not the evaluation set.
            reference: float32 model outputs for ``inputs`` (N, D).

        Returns:
            ``(op, gain)`` for every quantizable op, largest gain first; ``gain`` is
            the drop of the mean cosine distance to ``reference`` (may be <= 0).
        """
        base = _cosine_distance(reference, run_tflite(self.quantize(Int8Plan()), inputs))
        gains = []
        for op in list_ops(self._model):
            if op.op_type not in _SENSITIVITY_OPS:
                continue
            model = self.quantize(Int8Plan(f"float[{op.index}]", (op.output_name,)))
            gains.append((op, base - _cosine_distance(reference, run_tflite(model, inputs))))
        return sorted(gains, key=lambda g: (-g[1], g[0].index))

    def _signature(self) -> tuple[str, str]:
        from ai_edge_litert.interpreter import Interpreter

        signatures = Interpreter(model_content=self._model).get_signature_list()
        key = sorted(signatures)[0]
        return key, signatures[key]["inputs"][0]

    def _quantizer(self, float_ops: Sequence[str]) -> Any:
        from ai_edge_quantizer import algorithm_manager, quantizer, recipe

        no_quantize = algorithm_manager.AlgorithmName.NO_QUANTIZE
        q = quantizer.Quantizer(bytearray(self._model), recipe.static_wi8_ai8())
        # Float32 model input and output: apps feed every variant the same tensor.
        for op in ("INPUT", "OUTPUT"):
            q.update_quantization_recipe(regex=".*", operation_name=op, algorithm_key=no_quantize)
        for name in float_ops:
            q.update_quantization_recipe(
                regex=re.escape(name), operation_name="*", algorithm_key=no_quantize
            )
        return q


def run_tflite(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Raw outputs (N, D) of a single-input TFLite model, one image at a time."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    i = interpreter.get_input_details()[0]["index"]
    o = interpreter.get_output_details()[0]["index"]
    out = []
    for x in inputs:
        interpreter.set_tensor(i, x[None])
        interpreter.invoke()
        out.append(interpreter.get_tensor(o)[0].copy())
    return np.stack(out)


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.mean(1.0 - np.sum(a * b, axis=1)))
