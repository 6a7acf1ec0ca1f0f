"""PyTorch -> float32 TFLite with litert-torch (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

from export.errors import ConversionError
from export.graph import ExportGraph
from export.native_output import captured_native_output


def convert_fp32(graph: ExportGraph, target: Path) -> bytes:
    """Convert ``graph`` to a float32 TFLite flatbuffer.

    Args:
        graph: the export graph (NHWC float input, unnormalised embedding output).
        target: the file this will become; only named in errors.

    Returns:
        The flatbuffer bytes, without metadata.

    Raises:
        ConversionError: litert-torch failed (the message carries its last log lines).
    """
    with captured_native_output(f"{target}: litert-torch conversion"):
        import litert_torch  # prints torchao/absl warnings on import

        edge_model = litert_torch.convert(graph.eval(), (graph.sample_input(),))
        flatbuffer = bytes(edge_model.model_content())
    if not flatbuffer:
        raise ConversionError(f"{target}: litert-torch produced an empty model")
    return flatbuffer


def inline_buffers(flatbuffer: bytes) -> bytes:
    """The same model with every constant buffer stored inside the flatbuffer.

    ai-edge-quantizer writes weights after the flatbuffer, addressed by offset (the
    layout for models over 2 GB). The TFLite metadata writer re-packs the flatbuffer
    and would drop that trailing data, so quantized models are re-packed with inline
    buffers first. Models without offset buffers are returned unchanged.
    """
    import numpy as np
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(flatbuffer)
    if not any(b.offset > 1 for b in model.buffers):
        return flatbuffer
    for buffer in model.buffers:
        if buffer.offset > 1:
            # An ndarray makes the generated Pack() copy the bytes in one call.
            buffer.data = np.frombuffer(
                flatbuffer, np.uint8, count=buffer.size, offset=buffer.offset
            )
            buffer.offset = 0
            buffer.size = 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
