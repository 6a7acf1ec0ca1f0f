"""PyTorch -> float32 ONNX (torch.onnx dynamo exporter, opset 18, one file)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from export.errors import ConversionError
from export.graph import ExportGraph
from export.metadata import set_onnx_metadata
from export.native_output import captured_native_output
from mobile_sdk.model_metadata import ModelMetadata

OPSET = 18
INPUT_NAME = "image"
OUTPUT_NAME = "embedding"


def export_onnx_fp32(graph: ExportGraph, target: Path) -> bytes:
    """Serialised float32 ONNX model, weights inside, no DeepProduct metadata yet.

    The dynamo exporter gives a clean graph (about 100 nodes for EfficientNet-Lite0,
    the static "same" padding folded into Pad constants); ``external_data=False``
    keeps weights in the one file apps ship.

    Raises:
        ConversionError: the exporter failed (message names ``target``).
    """
    import torch

    with tempfile.TemporaryDirectory(prefix="deepproduct-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        with captured_native_output(f"{target}: torch.onnx export"):
            torch.onnx.export(
                graph.eval(),
                (graph.sample_input(),),
                str(path),
                dynamo=True,
                opset_version=OPSET,
                external_data=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                verbose=False,
            )
        if not path.is_file():
            raise ConversionError(f"{target}: torch.onnx export wrote no file")
        return path.read_bytes()


def with_metadata(onnx_bytes: bytes, meta: ModelMetadata) -> bytes:
    """``onnx_bytes`` with ``preprocessing.json`` in its ``metadata_props``."""
    import onnx

    model = onnx.load_model_from_string(onnx_bytes)
    set_onnx_metadata(model, meta)
    return model.SerializeToString()
