"""What the exported files say about themselves.

TFLite: standard TFLite Model Metadata written with MediaPipe's maintained metadata
writer classes (``mediapipe.tasks.python.metadata``): name, version, description,
an RGB image input with normalisation options (mean/std), an embedding output, and
``preprocessing.json`` as an associated file (see ``mobile_sdk.model_metadata``).
ONNX: the same JSON in ``metadata_props``.
"""

from __future__ import annotations

import io
import struct
import sys
import tempfile
import types
import zipfile
from pathlib import Path

from export.errors import ConversionError
from mobile_sdk.model_metadata import METADATA_NAME, ModelMetadata

AUTHOR = "DeepProduct"
# Zip entries carry a DOS timestamp; the writer stamps the current time, which
# would make two exports of one checkpoint differ. 1980-01-01 00:00 is DOS time 0.
_DOS_EPOCH_TIME, _DOS_EPOCH_DATE = 0, (1 << 5) | 1
_PARENTS = (
    "mediapipe.tasks.cc",
    "mediapipe.tasks.cc.metadata",
    "mediapipe.tasks.cc.metadata.python",
)


def model_description(meta: ModelMetadata) -> str:
    """One paragraph for the model file: what goes in, what comes out."""
    p = meta.preprocess
    normalised = (
        "L2-normalised"
        if meta.l2_normalized_output
        else "not L2-normalised (normalise it before cosine similarity)"
    )
    return (
        f"DeepProduct product-search embedding ({meta.precision}). Input: one RGB image, "
        f"NHWC float32 [1,{p.input_size},{p.input_size},3], resized and centre-cropped per "
        f"{METADATA_NAME} (rule {p.resize}), normalised (x - mean) / std. Output: "
        f"[1,{meta.embedding_dim}] embedding, {normalised}. "
        f"Fingerprint {meta.model_fingerprint}."
    )


def add_tflite_metadata(flatbuffer: bytes, meta: ModelMetadata) -> bytes:
    """Return ``flatbuffer`` with TFLite Model Metadata and ``preprocessing.json`` packed in.

    Raises:
        ConversionError: mediapipe is not installed or its writer failed.
    """
    _install_metadata_version_module()
    try:
        import flatbuffers
        from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
        from mediapipe.tasks.python.metadata import metadata as mp_metadata
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, writer_utils
    except ModuleNotFoundError as e:
        raise ConversionError(
            f"writing TFLite metadata needs mediapipe ({e.name} is missing): "
            "pip install 'deepproduct[export]'"
        ) from None
    p = meta.preprocess
    model_md = metadata_info.GeneralMd(
        name=meta.name,
        version=meta.version,
        description=model_description(meta),
        author=AUTHOR,
    ).create_metadata()
    image_md = metadata_info.InputImageTensorMd(
        name="image",
        description=f"RGB image, normalised per channel with mean {list(p.mean)} and "
        f"std {list(p.std)} after the {METADATA_NAME} resize and crop.",
        norm_mean=list(p.mean),
        norm_std=list(p.std),
        color_space_type=fb.ColorSpaceType.RGB,
        tensor_type=writer_utils.get_input_tensor_types(bytearray(flatbuffer))[0],
    ).create_metadata()
    embedding_md = metadata_info.TensorMd(
        name="embedding",
        description=f"{meta.embedding_dim}-d product embedding; compare with cosine "
        "similarity" + ("." if meta.l2_normalized_output else " after L2 normalisation."),
    ).create_metadata()
    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image_md]
    subgraph.outputTensorMetadata = [embedding_md]
    model_md.subgraphMetadata = [subgraph]
    model_md.associatedFiles = [
        metadata_info.AssociatedFileMd(
            file_path=METADATA_NAME,
            description="DeepProduct preprocessing rule and export facts (JSON, "
            "mobile_sdk.model_metadata)",
        ).create_metadata()
    ]
    builder = flatbuffers.Builder(0)
    builder.Finish(model_md.Pack(builder), mp_metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    # with_model_file on a file we own: the buffer variant's temporary file is
    # removed by a __del__ that fails noisily at interpreter exit.
    with tempfile.TemporaryDirectory(prefix="deepproduct-md-") as tmp:
        model_file = Path(tmp) / "model.tflite"
        model_file.write_bytes(flatbuffer)
        try:
            populator = mp_metadata.MetadataPopulator.with_model_file(str(model_file))
            populator.load_metadata_buffer(builder.Output())
            populator.load_associated_file_buffers({METADATA_NAME: meta.to_json().encode("utf-8")})
            populator.populate()
        except (ValueError, RuntimeError) as e:
            raise ConversionError(f"MediaPipe metadata writer failed: {e}") from None
        model = model_file.read_bytes()
    return pin_zip_timestamps(model)


def pin_zip_timestamps(data: bytes) -> bytes:
    """Set every zip entry's DOS date/time in ``data`` to 1980-01-01 00:00.

    ``data`` may have a prefix (a TFLite flatbuffer with its zip appended). Only the
    two-byte time/date fields of the local and central headers change; CRCs and sizes
    do not depend on them.
    """
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        central = archive.start_dir
    for info in infos:
        if buf[info.header_offset : info.header_offset + 4] != b"PK\x03\x04":
            raise ValueError("unexpected zip layout: local header not found")
        struct.pack_into("<HH", buf, info.header_offset + 10, _DOS_EPOCH_TIME, _DOS_EPOCH_DATE)
    pos = central
    for _ in infos:
        if buf[pos : pos + 4] != b"PK\x01\x02":
            raise ValueError("unexpected zip layout: central header not found")
        struct.pack_into("<HH", buf, pos + 12, _DOS_EPOCH_TIME, _DOS_EPOCH_DATE)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", buf, pos + 28)
        pos += 46 + name_len + extra_len + comment_len
    return bytes(buf)


def set_onnx_metadata(model, meta: ModelMetadata) -> None:
    """Store ``preprocessing.json`` and the model's name/version/description in an
    ``onnx.ModelProto`` (in place); existing entries of the same keys are replaced."""
    keep = [p for p in model.metadata_props if p.key != METADATA_NAME]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key = METADATA_NAME
    entry.value = meta.to_json()
    model.producer_name = AUTHOR
    model.model_version = 1
    model.doc_string = model_description(meta)
    model.graph.name = meta.name


def _install_metadata_version_module() -> None:
    """Provide ``GetMinimumMetadataParserVersion`` where the mediapipe wheel lacks it.

    mediapipe 0.10.3x and 1.x wheels ship ``metadata.py`` importing the pybind module
    ``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version`` without shipping
    it, so ``MetadataPopulator`` cannot be imported. This port of
    ``mediapipe/tasks/cc/metadata/metadata_version.cc`` (Apache-2.0) is installed
    only when the real module is missing.
    """
    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    try:
        __import__(name)
        return
    except ModuleNotFoundError:
        pass
    module = types.ModuleType(name)
    module.GetMinimumMetadataParserVersion = _minimum_parser_version  # type: ignore[attr-defined]
    parents = [sys.modules.setdefault(p, types.ModuleType(p)) for p in _PARENTS]
    parents[-1]._pywrap_metadata_version = module  # type: ignore[attr-defined]
    sys.modules[name] = module


def _minimum_parser_version(buffer: bytes) -> str:
    """The oldest metadata parser version that understands ``buffer``.

    Mirrors ``metadata_version.cc``: start at 1.0.0 and raise the version for every
    schema member present that was added later.
    """
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    md = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0))
    version = (1, 0, 0)

    def need(v: tuple[int, int, int]) -> None:
        nonlocal version
        version = max(version, v)

    def files(items) -> None:
        for f in items or []:
            if f.type == fb.AssociatedFileType.VOCABULARY:
                need((1, 0, 1))
            if f.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
                need((1, 4, 0))
            if f.version is not None:
                need((1, 4, 1))

    def units(items) -> None:
        for u in items or []:
            if u.optionsType in (
                fb.ProcessUnitOptions.BertTokenizerOptions,
                fb.ProcessUnitOptions.SentencePieceTokenizerOptions,
            ):
                need((1, 1, 0))
            if u.optionsType == fb.ProcessUnitOptions.RegexTokenizerOptions:
                need((1, 2, 1))

    def tensors(items) -> None:
        for t in items or []:
            files(t.associatedFiles)
            units(t.processUnits)
            if t.content is not None and (
                t.content.contentPropertiesType == fb.ContentProperties.AudioProperties
            ):
                need((1, 3, 0))

    for sg in md.subgraphMetadata or []:
        tensors(sg.inputTensorMetadata)
        tensors(sg.outputTensorMetadata)
        files(sg.associatedFiles)
        if sg.inputProcessUnits is not None:
            need((1, 1, 0))
            units(sg.inputProcessUnits)
        if sg.outputProcessUnits is not None:
            need((1, 1, 0))
            units(sg.outputProcessUnits)
        if sg.inputTensorGroups is not None or sg.outputTensorGroups is not None:
            need((1, 2, 0))
        if sg.customMetadata is not None:
            need((1, 5, 0))
    files(md.associatedFiles)
    return ".".join(str(v) for v in version)
