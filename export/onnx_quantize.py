"""Float32 ONNX -> static int8 QDQ ONNX with onnxruntime's quantizer.

Per-channel int8 weights (per-tensor and dynamic quantization measured unusable on
this network: cosine ~0.77), uint8 activations calibrated with min/max over the
same real images as the TFLite int8 model; input and output stay float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from export.native_output import captured_native_output
from export.onnx_export import INPUT_NAME


def quantize_onnx_int8(fp32_onnx: bytes, calibration: np.ndarray, target: Path) -> bytes:
    """Serialised int8 QDQ model (no DeepProduct metadata; add it afterwards).

    Raises:
        ConversionError: onnxruntime's quantizer failed (message names ``target``).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._rows = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._rows, None)
            return None if x is None else {INPUT_NAME: x[None]}

    with tempfile.TemporaryDirectory(prefix="deepproduct-onnxq-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32_onnx)
        with captured_native_output(f"{target}: onnxruntime static quantization"):
            quantize_static(
                str(src),
                str(dst),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        return dst.read_bytes()
