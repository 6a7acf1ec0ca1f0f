"""End-to-end export of a small checkpoint: files, metadata, parity, MediaPipe, errors.

The export runs once (``_export_helpers.small_export``): a 32-d EfficientNet-Lite0
with ImageNet weights and a random head, calibrated and evaluated on a 4-product
synthetic dataset.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _export_helpers import EMBEDDING_DIM, require_export_extra, small_export

require_export_extra()

from export.errors import AccuracyGuardError, CalibrationError, ConversionError  # noqa: E402
from export.pipeline import FILES, REPORT_JSON, REPORT_MD, ExportOptions, export_checkpoint  # noqa: E402
from mobile_sdk.cli import main  # noqa: E402
from mobile_sdk.embedder import Embedder, EmbedderOptions  # noqa: E402
from mobile_sdk.model_metadata import METADATA_NAME, read_model_metadata  # noqa: E402
from mobile_sdk.preprocess import preprocess  # noqa: E402
from mobile_sdk.preprocess_config import PreprocessConfig  # noqa: E402
from trainer.model import CheckpointError, load_model  # noqa: E402

SIZE = 224


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return small_export(tmp_path_factory)


@pytest.fixture(scope="module")
def report(small) -> dict:
    return json.loads((small.dist / REPORT_JSON).read_text())


def _row(report: dict, name: str) -> dict:
    return next(f for f in report["files"] if f["file"] == name)


def test_writes_the_five_models_and_two_reports(small):
    names = sorted(p.name for p in small.dist.iterdir())
    assert names == sorted([*FILES, REPORT_JSON, REPORT_MD])
    assert "int8 guard" in (small.dist / REPORT_MD).read_text()


def test_sizes(small, report):
    size = {name: (small.dist / name).stat().st_size for name in FILES}
    assert size["model.tflite"] <= 5_500_000
    assert size["model.tflite"] < size["model_fp16.tflite"] < size["model_fp32.tflite"]
    assert size["model_int8.onnx"] < size["model.onnx"]
    # EfficientNet-Lite0 trunk (3.4 M weights) + a 1280x32 head: fp32 is about 14 MB
    assert 12e6 < size["model_fp32.tflite"] < 16e6
    assert size["model.tflite"] < 0.35 * size["model_fp32.tflite"]
    assert {f["file"]: f["bytes"] for f in report["files"]} == size
    assert report["size_limit"]["passed"] is True


def test_tflite_input_is_nhwc_float_and_output_is_the_embedding(small):
    from ai_edge_litert.interpreter import Interpreter

    for name, (fmt, _) in FILES.items():
        if fmt != "tflite":
            continue
        interpreter = Interpreter(model_path=str(small.dist / name))
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        assert list(inp["shape"]) == [1, SIZE, SIZE, 3] and inp["dtype"] == np.float32, name
        assert list(out["shape"]) == [1, EMBEDDING_DIM] and out["dtype"] == np.float32, name


def test_onnx_input_is_nhwc_float(small):
    import onnxruntime as ort

    for name in ("model.onnx", "model_int8.onnx"):
        session = ort.InferenceSession(str(small.dist / name), providers=["CPUExecutionProvider"])
        (inp,), (out,) = session.get_inputs(), session.get_outputs()
        assert inp.shape == [1, SIZE, SIZE, 3] and inp.type == "tensor(float)", name
        assert out.shape == [1, EMBEDDING_DIM] and out.type == "tensor(float)", name


def test_metadata_round_trip(small):
    expected_preprocess = load_model(small.checkpoint).preprocess
    metas = {name: read_model_metadata(small.dist / name) for name in FILES}
    assert len({m.model_fingerprint for m in metas.values()}) == 1
    for name, meta in metas.items():
        assert meta.preprocess == expected_preprocess, name
        assert meta.embedding_dim == EMBEDDING_DIM
        assert meta.l2_normalized_output is False
        assert meta.precision == FILES[name][1]
        assert meta.name == "deepproduct-efficientnet-lite0-32d" and meta.version == "1"
    # a .tflite with associated files is a zip: plain zipfile reads preprocessing.json
    with zipfile.ZipFile(small.dist / "model.tflite") as archive:
        assert archive.namelist() == [METADATA_NAME]
        text = archive.read(METADATA_NAME).decode()
    assert expected_preprocess.to_json() in text
    doc = json.loads(text)
    assert PreprocessConfig.from_dict(doc["preprocess"]) == expected_preprocess
    assert doc["model_fingerprint"] == metas["model.tflite"].model_fingerprint


def test_fingerprint_is_the_checkpoints(small, report):
    from export.graph import load_export_graph, model_fingerprint

    fingerprint = model_fingerprint(load_export_graph(small.checkpoint))
    assert fingerprint == report["model_fingerprint"]
    assert fingerprint == model_fingerprint(load_export_graph(small.checkpoint))


def test_standard_tflite_metadata(small):
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md_fb
    from mediapipe.tasks.metadata import schema_py_generated as schema_fb

    data = (small.dist / "model.tflite").read_bytes()
    model = schema_fb.Model.GetRootAsModel(data, 0)
    entries = {
        model.Metadata(i).Name().decode(): model.Metadata(i).Buffer()
        for i in range(model.MetadataLength())
    }
    buffer = model.Buffers(entries["TFLITE_METADATA"]).DataAsNumpy().tobytes()
    md = md_fb.ModelMetadataT.InitFromObj(md_fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0))
    assert md.name.decode() == "deepproduct-efficientnet-lite0-32d"
    assert md.version.decode() == "1"
    assert b"embedding" in md.description
    assert [f.name.decode() for f in md.associatedFiles] == [METADATA_NAME]
    (subgraph,) = md.subgraphMetadata
    (image,) = subgraph.inputTensorMetadata
    assert image.content.contentPropertiesType == md_fb.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == md_fb.ColorSpaceType.RGB
    (norm,) = image.processUnits
    assert list(norm.options.mean) == [127.0] * 3 and list(norm.options.std) == [128.0] * 3
    (embedding,) = subgraph.outputTensorMetadata
    assert embedding.name.decode() == "embedding"


def test_parity_with_pytorch(report):
    cos = {f["file"]: f["parity"]["cosine_mean"] for f in report["files"]}
    for name in ("model_fp32.tflite", "model.onnx"):
        assert cos[name] >= 0.9999, name
        assert _row(report, name)["parity"]["max_abs_diff"] < 1e-3, name
    assert cos["model_fp16.tflite"] >= 0.999
    assert cos["model.tflite"] >= 0.9
    assert cos["model_int8.onnx"] >= 0.9
    assert report["evaluation"]["parity_images"] == 12  # 4 catalog images + 8 photos


def test_int8_embedding_matches_pytorch_on_a_real_input(small):
    import torch

    model = load_model(small.checkpoint)
    image = sorted((small.data / "photos").rglob("*.jpg"))[0]
    x = preprocess(image, model.preprocess)
    with torch.no_grad():
        expected = model(torch.from_numpy(x[None]).permute(0, 3, 1, 2))[0].numpy()
    with Embedder.from_model_path(small.dist / "model.tflite") as embedder:
        got = embedder.embed(image)
    assert Embedder.cosine_similarity(expected, got) > 0.9


def test_report_has_retrieval_guard_and_tools(report):
    assert report["pytorch_retrieval"]["queries"] == 8
    for f in report["files"]:
        assert 0.0 <= f["retrieval"]["top1"] <= 1.0 and len(f["sha256"]) == 64
    guard = report["int8_guard"]
    assert guard["fp32_top1"] == _row(report, "model_fp32.tflite")["retrieval"]["top1"]
    assert guard["int8_top1"] == _row(report, "model.tflite")["retrieval"]["top1"]
    assert isinstance(guard["passed"], bool) and guard["attempts"][0]["plan"] == "int8"
    assert report["tools"]["litert-torch"] == "0.10.0"
    assert report["tools"]["ai-edge-quantizer"] == "0.10.0"
    assert report["l2_normalized_output"] is False


def test_mediapipe_image_embedder_loads_the_model_unchanged(small):
    vision = pytest.importorskip(
        "mediapipe.tasks.python.vision", reason="mediapipe missing: pip install mediapipe"
    )
    import mediapipe as mp
    from ai_edge_litert.interpreter import Interpreter
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from PIL import Image

    path = str(small.dist / "model.tflite")
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    options = vision.ImageEmbedderOptions(
        base_options=BaseOptions(model_asset_path=path), l2_normalize=True
    )
    files = sorted((small.data / "photos").rglob("*.jpg"))[:3]
    with vision.ImageEmbedder.create_from_options(options) as embedder:
        for f in files:
            img = Image.open(f).convert("RGB")
            left = (img.width - SIZE) // 2
            top = (img.height - SIZE) // 2
            pixels = np.asarray(img.crop((left, top, left + SIZE, top + SIZE)), np.uint8).copy()
            result = embedder.embed(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels))
            got = np.asarray(result.embeddings[0].embedding, np.float64)
            interpreter.set_tensor(
                inp["index"], ((pixels - 127.0) / 128.0)[None].astype(np.float32)
            )
            interpreter.invoke()
            expected = interpreter.get_tensor(out["index"])[0].astype(np.float64)
            assert got.shape == (EMBEDDING_DIM,)
            assert abs(np.linalg.norm(got) - 1.0) < 1e-4  # MediaPipe normalised it
            assert Embedder.cosine_similarity(got, expected) >= 0.999, f


def test_cli_evaluate_accepts_exported_models(small, capsys):
    for name in ("model.tflite", "model.onnx"):
        code = main(
            ["evaluate", "--model", str(small.dist / name), "--data", str(small.data), "--quiet"]
        )
        assert code == 0
        assert "top-1" in capsys.readouterr().out


def test_second_export_is_byte_identical_and_strict_guard_runs_the_remedies(
    small, tmp_path, monkeypatch
):
    from export.quantize import Int8Quantizer, list_ops

    def two_ops(self, inputs, reference):
        # the real ranking quantizes every op once (slow); the ladder is what is tested
        ops = [op for op in list_ops(self._model) if op.op_type == "CONV_2D"][:2]
        return [(ops[0], 0.2), (ops[1], 0.1)]

    monkeypatch.setattr(Int8Quantizer, "sensitivity", two_ops)
    out = tmp_path / "dist2"
    options = ExportOptions(
        checkpoint=small.checkpoint,
        calib=small.data,
        out=out,
        val=small.data,
        max_top1_gap=-1.0,  # impossible: every int8 plan fails the guard
        strict=True,
        progress=False,
    )
    with pytest.raises(AccuracyGuardError, match="int8 guard FAILED"):
        export_checkpoint(options)
    second = json.loads((out / REPORT_JSON).read_text())
    guard = second["int8_guard"]
    attempts = guard["attempts"]
    assert [a["plan"] for a in attempts] == ["int8", "int8+float[1]", "int8+float[2]"]
    assert attempts[2]["float_ops"][0].startswith("#0 CONV_2D (conv_stem)")
    assert guard["passed"] is False and all(a["passed"] is False for a in attempts)
    best = max(attempts, key=lambda a: (a["top1"], -len(a["float_ops"])))
    assert guard["chosen_plan"] == best["plan"]
    assert "FAILED" in (out / REPORT_MD).read_text()
    # same checkpoint, same images: byte-identical files
    for name in FILES:
        if name != "model.tflite" or best["plan"] == "int8":
            assert (out / name).read_bytes() == (small.dist / name).read_bytes(), name


def _untouched(dist: Path) -> None:
    assert sorted(p.name for p in dist.iterdir()) == ["keep.txt"]
    assert (dist / "keep.txt").read_text() == "old"


@pytest.fixture
def dist(tmp_path) -> Path:
    d = tmp_path / "dist"
    d.mkdir()
    (d / "keep.txt").write_text("old")
    return d


def test_bad_checkpoint_leaves_dist_untouched(small, dist, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=str(bad)):
        export_checkpoint(ExportOptions(checkpoint=bad, calib=small.data, out=dist, progress=False))
    _untouched(dist)


def test_missing_calibration_folder_leaves_dist_untouched(small, dist, tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(CalibrationError, match=str(missing)):
        export_checkpoint(
            ExportOptions(checkpoint=small.checkpoint, calib=missing, out=dist, progress=False)
        )
    _untouched(dist)
    args = ["export", "--checkpoint", str(small.checkpoint), "--calib", str(missing)]
    assert main([*args, "--out", str(dist), "--quiet"]) == 2
    assert f"{missing}: calibration folder not found" in capsys.readouterr().err
    _untouched(dist)


def test_failed_conversion_names_the_file_and_leaves_dist_untouched(small, dist, monkeypatch):
    import export.pipeline
    from export.native_output import captured_native_output

    def broken(graph, target):
        with captured_native_output(f"{target}: litert-torch conversion"):
            print("converter log line")
            raise RuntimeError("unsupported op")

    monkeypatch.setattr(export.pipeline, "convert_fp32", broken)
    options = ExportOptions(
        checkpoint=small.checkpoint, calib=small.data, out=dist, calib_images=2, progress=False
    )
    with pytest.raises(ConversionError) as err:
        export_checkpoint(options)
    message = str(err.value)
    assert str(dist / "model_fp32.tflite") in message
    assert "unsupported op" in message and "converter log line" in message
    _untouched(dist)


def test_embedder_refuses_a_model_without_metadata(small, tmp_path):
    import onnx

    from mobile_sdk.model_metadata import ModelMetadataError

    model = onnx.load(str(small.dist / "model.onnx"))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ModelMetadataError, match=f"{bare}: no DeepProduct metadata"):
        Embedder.from_model_path(bare, EmbedderOptions())


def test_calibration_selection_is_seeded_and_mixes_catalog_and_photos(tmp_path):
    from export.calibration import select_calibration_files
    from mobile_sdk.dataset_layout import Dataset, Product

    products = tuple(
        Product(
            f"p{i}",
            catalog=(tmp_path / f"c{i}.jpg",),
            photos=tuple(tmp_path / f"p{i}-{j}.jpg" for j in range(10)),
        )
        for i in range(6)
    )
    dataset = Dataset(tmp_path, products)
    chosen = select_calibration_files(dataset, 20, seed=0)
    assert chosen == sorted(chosen) and len(set(chosen)) == 20
    assert sum(p.name.startswith("c") for p in chosen) == 6  # every catalog image
    assert chosen == select_calibration_files(dataset, 20, seed=0)
    assert chosen != select_calibration_files(dataset, 20, seed=1)
    assert len(select_calibration_files(dataset, 1000, seed=0)) == 66
    with pytest.raises(CalibrationError, match=">= 1"):
        select_calibration_files(dataset, 0)


def test_report_without_evaluation_set_says_the_guard_was_not_checked(report):
    from export.parity import Agreement
    from export.report import ExportReport, FileReport, GuardResult

    guard = GuardResult(
        max_gap=0.01, fp32_top1=None, int8_top1=None, passed=None, chosen_plan="int8"
    )
    files = [
        FileReport(name, fmt, precision, 1000, "0" * 64, Agreement(1.0, 1.0, 0.0, 3))
        for name, (fmt, precision) in FILES.items()
    ]
    facts = {k: report[k] for k in ("name", "version", "model_fingerprint", "embedding_dim")}
    facts |= {"l2_normalized_output": False, "preprocess": report["preprocess"]}
    no_val = ExportReport(
        checkpoint="model.pt",
        out="dist",
        facts=facts,
        calibration={"root": "data", "images": 3, "catalog": 1, "photos": 2, "seed": 0},
        evaluation={"root": None, "parity_images": 3, "parity_source": "data"},
        pytorch=None,
        files=files,
        guard=guard,
        size_limit=5_500_000,
        notes=[],
        tools={},
        seconds={},
    )
    text = no_val.to_markdown()
    assert "int8 guard NOT CHECKED" in text and "| n/a | n/a |" in text
    assert json.loads(no_val.to_json())["int8_guard"]["passed"] is None


@pytest.mark.parametrize(
    "fp32, int8, words",
    [(0.803, 0.798, "int8 loses 0.5 points"), (0.803, 0.807, "int8 gains 0.4 points")],
)
def test_guard_message_says_which_way_int8_moved(fp32, int8, words):
    from export.report import GuardResult

    guard = GuardResult(
        max_gap=0.01, fp32_top1=fp32, int8_top1=int8, passed=True, chosen_plan="int8"
    )
    assert f"({words}, may lose 1.0; plan int8)" in guard.message()
