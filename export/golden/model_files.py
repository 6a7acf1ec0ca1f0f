"""The golden bundle's model, its metadata (and documents every reader must refuse), and the
model's embeddings of the inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from export.golden.bundle import GoldenError, Writer
from export.golden.images import Input
from mobile_sdk.embedder import Embedder, EmbedderOptions
from mobile_sdk.model_metadata import ModelMetadata, read_metadata_text, read_model_metadata


def write_model(writer: Writer, model_path: Path) -> dict[str, Any]:
    if model_path.suffix.lower() != ".tflite":
        raise GoldenError(f"{model_path}: the golden bundle needs the .tflite model")
    metadata = read_model_metadata(model_path)
    writer.write("model.tflite", model_path.read_bytes(), "the exported model (flatbuffer + zip)")
    text = read_metadata_text(model_path)
    writer.write("metadata.json", text, "preprocessing.json as stored in the model, UTF-8")
    return {
        "file": "model.tflite",
        "metadata_file": "metadata.json",
        "metadata": metadata.to_dict(),
        "resized_short_side": metadata.preprocess.resized_short_side(),
        "bad_metadata": _write_bad_metadata(writer, metadata),
    }


def _write_bad_metadata(writer: Writer, metadata: ModelMetadata) -> list[dict[str, Any]]:
    """Metadata documents every runtime must refuse; each is checked against Python."""
    good = metadata.to_dict()

    def changed(top: dict | None = None, pre: dict | None = None, drop: str = "") -> dict:
        d = json.loads(json.dumps(good))
        d.update(top or {})
        d["preprocess"].update(pre or {})
        d.pop(drop, None)
        return d

    cases = {
        "unknown_field": (changed(top={"colour_space": "srgb"}), "colour_space"),
        "missing_field": (changed(drop="embedding_dim"), "embedding_dim"),
        "unknown_preprocess_field": (changed(pre={"interpolation": "bilinear"}), "interpolation"),
        "unknown_resize_rule": (changed(pre={"resize": "bilinear-v2"}), "resize"),
        "float_input_size": (changed(pre={"input_size": 224.0}), "input_size"),
        "zero_std": (changed(pre={"std": [128.0, 0.0, 128.0]}), "std"),
        "crop_fraction_above_one": (changed(pre={"crop_fraction": 1.5}), "crop_fraction"),
        "bad_fingerprint": (changed(top={"model_fingerprint": "abc"}), "model_fingerprint"),
        "wrong_format_tag": (changed(top={"format": "other/1"}), "format"),
        "string_dim": (changed(top={"embedding_dim": "32"}), "embedding_dim"),
    }
    out = []
    for name, (doc, field) in cases.items():
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        try:
            ModelMetadata.from_json(text)
        except ValueError as e:
            python_error = str(e)
        else:
            raise GoldenError(f"bad metadata case {name!r} is accepted by ModelMetadata")
        rel = writer.write(f"metadata/bad/{name}.json", text.encode(), "metadata JSON to refuse")
        out.append({"file": rel, "field": field, "python_error": python_error})
    return out


def write_embeddings(writer: Writer, model_path: Path, inputs: list[Input]) -> dict[str, Any]:
    tensors = np.stack([i.tensor for i in inputs])
    with Embedder.from_model_path(model_path, EmbedderOptions(l2_normalize=False)) as raw_model:
        raw = raw_model.embed_input(tensors)
    with Embedder.from_model_path(model_path) as model:
        normalized = model.embed_input(tensors)
    return {
        "raw": raw,
        "normalized": normalized,
        "manifest": {
            "order": [i.entry["name"] for i in inputs],
            "raw": writer.array(
                "embeddings/raw.f32", raw, "float32 model output per input, before L2"
            ),
            "normalized": writer.array(
                "embeddings/normalized.f32",
                normalized,
                "float32 Embedder output per input (L2-normalised in float32 by numpy)",
            ),
        },
    }
