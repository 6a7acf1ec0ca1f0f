"""benchmarks/runtime_ops.py: pairing and cutting the .tflite and .onnx int8 graphs."""

from collections import Counter

import numpy as np
import pytest
from _export_helpers import require_export_extra, small_export

require_export_extra()

from benchmarks import runtime_ops  # noqa: E402
from benchmarks.runtime_ops import Cut, ModelPairError  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return small_export(tmp_path_factory)


@pytest.fixture(scope="module")
def models(exported):
    return runtime_ops.read_models(
        exported.dist / "model.tflite", exported.dist / "model_int8.onnx"
    )


@pytest.fixture(scope="module")
def cuts(models):
    return runtime_ops.paired_cuts(models)


def test_every_convolution_and_addition_is_paired(cuts):
    # EfficientNet-Lite0: stem, 16 blocks (15 expansions, 16 depthwise, 16 projections),
    # head; 9 residual additions.
    kinds = Counter(c.kind for c in cuts)
    assert len(cuts) == 58
    assert kinds["conv 1x1"] == 32 and kinds["conv 3x3 s2"] == 1 and kinds["add"] == 9
    assert sum(n for k, n in kinds.items() if k.startswith("depthwise")) == 16
    assert kinds["depthwise 5x5 s1"] == 7
    assert cuts[0].shape == (1, 112, 112, 32) and cuts[-1].shape == (1, 7, 7, 1280)
    assert [c.tflite_op for c in cuts] == sorted(c.tflite_op for c in cuts)


def test_prefix_models_end_at_their_cut(exported, models, cuts, tmp_path):
    import onnx
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    tflite = exported.dist / "model.tflite"
    chosen = [cuts[0], cuts[20], cuts[-1]]
    pairs = runtime_ops.write_prefix_models(models, chosen, tmp_path)
    assert models.input_shape == (1, 224, 224, 3)
    image = np.random.default_rng(0).uniform(-1, 1, models.input_shape).astype(np.float32)
    full = Interpreter(model_path=str(tflite), experimental_preserve_all_tensors=True)
    full.allocate_tensors()
    full.set_tensor(full.get_input_details()[0]["index"], image)
    full.invoke()
    ops = full._get_ops_details()
    for cut, (tf_path, onnx_path) in zip(chosen, pairs, strict=True):
        prefix = Interpreter(model_path=str(tf_path))
        prefix.allocate_tensors()
        prefix.set_tensor(prefix.get_input_details()[0]["index"], image)
        prefix.invoke()
        got = prefix.get_tensor(prefix.get_output_details()[0]["index"])
        expected = full.get_tensor(ops[cut.tflite_op]["outputs"][0])
        np.testing.assert_array_equal(got, expected)
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
        options.log_severity_level = 3
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {session.get_inputs()[0].name: image})
        assert out.shape == cut.shape  # NHWC, like the .tflite's
        # onnxruntime computes in NHWC: the appended transpose cancels its own, so the
        # prefix pays for no layout change the full model does not.
        optimized = onnx.load(options.optimized_model_filepath)
        assert "Transpose" not in {n.op_type for n in optimized.graph.node}


def test_other_graphs_are_refused_naming_both_files(exported, models, cuts, tmp_path):
    tflite = exported.dist / "model.tflite"
    ((_, onnx_prefix),) = runtime_ops.write_prefix_models(models, [cuts[10]], tmp_path)
    with pytest.raises(ModelPairError, match="not the same graph") as e:
        runtime_ops.paired_cuts(runtime_ops.read_models(tflite, onnx_prefix))
    assert str(tflite) in str(e.value) and str(onnx_prefix) in str(e.value)


def test_missing_or_broken_models_are_clear_errors(exported, tmp_path):
    with pytest.raises(ModelPairError, match="model.tflite: no such model file"):
        runtime_ops.main(["--dist", str(tmp_path)])
    (tmp_path / "model.tflite").write_bytes(b"not a flatbuffer")
    (tmp_path / "model_int8.onnx").write_bytes((exported.dist / "model_int8.onnx").read_bytes())
    with pytest.raises(ModelPairError, match="model.tflite: not a readable .tflite model"):
        runtime_ops.main(["--dist", str(tmp_path)])
    (tmp_path / "model.tflite").write_bytes((exported.dist / "model.tflite").read_bytes())
    (tmp_path / "model_int8.onnx").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelPairError, match="model_int8.onnx: not a readable .onnx model"):
        runtime_ops.main(["--dist", str(tmp_path)])


def test_kind_sums_add_up_to_the_full_model():
    cuts = [
        Cut("conv 3x3 s2", 1, "a", (1, 4, 4, 8)),
        Cut("depthwise 5x5 s1", 2, "b", (1, 4, 4, 8)),
        Cut("conv 1x1", 3, "c", (1, 4, 4, 8)),
        Cut("depthwise 5x5 s1", 4, "d", (1, 4, 4, 8)),
    ]
    litert = [1.0, 3.0, 3.5, 6.0, 6.25]  # prefix medians; the last is the full model
    onnx = [2.0, 3.0, 3.75, 5.0, 5.5]
    rows = {r["kind"]: r for r in runtime_ops.kind_table(cuts, litert, onnx)}
    assert rows["depthwise 5x5 s1"] == {
        "kind": "depthwise 5x5 s1",
        "count": 2,
        "litert_ms": 4.5,
        "onnx_ms": 2.25,
    }
    assert rows["tail"]["litert_ms"] == 0.25 and rows["tail"]["onnx_ms"] == 0.5
    assert sum(r["litert_ms"] for r in rows.values()) == pytest.approx(6.25)
    assert sum(r["onnx_ms"] for r in rows.values()) == pytest.approx(5.5)
    table = runtime_ops.format_table(runtime_ops.kind_table(cuts, litert, onnx))
    # Largest LiteRT deficit first; the total line carries the ratio.
    assert table.splitlines()[2].startswith("| depthwise 5x5 s1 | 2 | 4.50 | 2.25 | +2.25 |")
    assert table.splitlines()[-1] == "| total | | 6.25 | 5.50 | +0.75 (1.136x) |"
