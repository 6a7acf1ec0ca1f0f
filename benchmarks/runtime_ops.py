"""Where LiteRT and onnxruntime differ on the int8 model: time per kind of op.

Neither runtime's Python API reports per-op times on the host (LiteRT's op profiler is
part of its C++ ``benchmark_model``). So both graphs are cut after each convolution and
addition, the cuts are paired (the same tensor: NHWC after the ``.tflite`` op, NCHW at
the ``QuantizeLinear`` after the ``.onnx`` node), every prefix model is timed on one
thread in shuffled rounds, and each op is charged the growth of the median from the
previous prefix. One op's figure is noisy (tens of microseconds) and a runtime may fuse
differently across a cut, so read the sums over a kind of op, and run it twice.

    python -m benchmarks.runtime_ops --dist dist [--runs 30] [--json FILE]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from mobile_sdk.atomic_file import write_text_atomic  # noqa: E402
from mobile_sdk.errors import DeepProductError, run_reporting_errors  # noqa: E402

# .tflite ops that end a cut, and the .onnx nodes whose QuantizeLinear output is their twin.
TFLITE_CUT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD")
ONNX_CUT_OPS = ("Conv", "Add")


class ModelPairError(DeepProductError, ValueError):
    """The two models cannot be compared: a file is missing, or the .tflite and .onnx
    graphs do not have the same convolutions and additions."""


@dataclass(frozen=True)
class Cut:
    """One op present in both graphs: where both prefix models end."""

    kind: str  # e.g. "depthwise 5x5 s1", "conv 1x1", "add"
    tflite_op: int  # index of the op in the .tflite's first subgraph
    onnx_tensor: str  # the QuantizeLinear output after the twin .onnx node
    shape: tuple[int, ...]  # NHWC


@dataclass(frozen=True)
class ModelPair:
    """Both models, read once: the .tflite as a mutable object, the .onnx with inferred
    shapes (the prefix extractor looks the cut tensors up in value_info)."""

    tflite_path: Path
    onnx_path: Path
    tflite: Any  # flatbuffer_utils' ModelT
    onnx: Any  # onnx.ModelProto

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The .tflite's input shape (NHWC; the .onnx takes the same)."""
        graph = self.tflite.subgraphs[0]
        return tuple(int(v) for v in graph.tensors[graph.inputs[0]].shape)


def read_models(tflite_path: Path, onnx_path: Path) -> ModelPair:
    """Read both models.

    Raises:
        ModelPairError: a file is missing or cannot be read as its kind of model.
    """
    import onnx
    from ai_edge_litert.tools import flatbuffer_utils

    for path in (tflite_path, onnx_path):
        if not Path(path).is_file():
            raise ModelPairError(f"{path}: no such model file")
    try:
        model = flatbuffer_utils.read_model(str(tflite_path))
    except Exception as e:  # noqa: BLE001 - the flatbuffer reader raises whatever it meets
        raise ModelPairError(f"{tflite_path}: not a readable .tflite model ({e})") from None
    try:
        proto = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    except Exception as e:  # noqa: BLE001 - protobuf and onnx raise their own types
        raise ModelPairError(f"{onnx_path}: not a readable .onnx model ({e})") from None
    return ModelPair(Path(tflite_path), Path(onnx_path), model, proto)


def paired_cuts(models: ModelPair) -> list[Cut]:
    """The convolutions and additions of both graphs, paired in execution order.

    Raises:
        ModelPairError: the graphs differ in count, order or output shapes of these ops.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    tflite_path, onnx_path = models.tflite_path, models.onnx_path
    model, proto = models.tflite, models.onnx
    graph = model.subgraphs[0]
    tf_ops = []
    for k, op in enumerate(graph.operators):
        name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        if name in TFLITE_CUT_OPS:
            out_shape = tuple(int(v) for v in graph.tensors[op.outputs[0]].shape)
            in_shape = tuple(int(v) for v in graph.tensors[op.inputs[0]].shape)
            kernel = tuple(int(v) for v in graph.tensors[op.inputs[1]].shape)
            tf_ops.append((k, _kind(name, in_shape, out_shape, kernel), out_shape))
    shapes = {
        v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
        for v in list(proto.graph.value_info) + list(proto.graph.output)
    }
    producer = {out: node for node in proto.graph.node for out in node.output}
    onnx_cuts = [
        node.output[0]
        for node in proto.graph.node
        if node.op_type == "QuantizeLinear"
        and getattr(producer.get(node.input[0]), "op_type", None) in ONNX_CUT_OPS
    ]
    if len(onnx_cuts) != len(tf_ops):
        raise ModelPairError(
            f"{tflite_path} has {len(tf_ops)} convolutions and additions, {onnx_path} has "
            f"{len(onnx_cuts)} quantized Conv/Add outputs: not the same graph"
        )
    cuts = []
    for (k, kind, shape), tensor in zip(tf_ops, onnx_cuts, strict=True):
        nchw = shapes.get(tensor)
        if nchw is None or len(nchw) != 4 or (nchw[0], nchw[2], nchw[3], nchw[1]) != shape:
            raise ModelPairError(
                f"op {k} of {tflite_path} gives {list(shape)} (NHWC) but its twin "
                f"{tensor!r} in {onnx_path} is {list(nchw or ())} (NCHW): not the same graph"
            )
        cuts.append(Cut(kind, k, tensor, shape))
    return cuts


def _kind(name: str, in_shape: tuple, out_shape: tuple, kernel: tuple) -> str:
    if name == "ADD":
        return "add"
    stride = "s2" if out_shape[1] < in_shape[1] else "s1"
    if name == "DEPTHWISE_CONV_2D":  # kernel [1, kh, kw, C]
        return f"depthwise {kernel[1]}x{kernel[2]} {stride}"
    return f"conv {kernel[1]}x{kernel[2]}" + (f" {stride}" if kernel[1] > 1 else "")


def write_prefix_models(
    models: ModelPair, cuts: list[Cut], folder: Path
) -> list[tuple[Path, Path]]:
    """One (.tflite, .onnx) pair per cut, each graph ending at the cut's tensor.

    ``models.tflite`` is cut in place and restored before returning.
    """
    import onnx
    from ai_edge_litert.tools import flatbuffer_utils

    model = models.tflite
    graph = model.subgraphs[0]
    operators, outputs, signatures = graph.operators, graph.outputs, model.signatureDefs
    extractor = onnx.utils.Extractor(models.onnx)
    onnx_input = extractor.model.graph.input[0].name
    paths = []
    try:
        model.signatureDefs = []  # the signature names the full model's output
        for i, cut in enumerate(cuts):
            graph.operators = operators[: cut.tflite_op + 1]
            graph.outputs = [operators[cut.tflite_op].outputs[0]]
            tf_path, onnx_out = folder / f"prefix{i:03d}.tflite", folder / f"prefix{i:03d}.onnx"
            flatbuffer_utils.write_model(model, str(tf_path))
            prefix = extractor.extract_model([onnx_input], [cut.onnx_tensor])
            onnx.save(_nhwc_output(prefix, cut.shape), str(onnx_out))
            paths.append((tf_path, onnx_out))
    finally:
        graph.operators, graph.outputs, model.signatureDefs = operators, outputs, signatures
    return paths


def _nhwc_output(model, shape: tuple[int, ...]):
    """``model`` with its NCHW output transposed to NHWC.

    onnxruntime runs the convolutions in NHWC and would transpose an NCHW graph output
    back, a cost the full model never pays (its cut tensors are internal); with this
    transpose appended its optimiser cancels the pair, as the .tflite needs none.
    """
    import onnx
    from onnx import helper

    graph = model.graph
    nchw = graph.output[0]
    elem_type = nchw.type.tensor_type.elem_type
    graph.node.append(
        helper.make_node("Transpose", [nchw.name], [nchw.name + "_nhwc"], perm=[0, 2, 3, 1])
    )
    graph.output.pop()
    graph.output.append(helper.make_tensor_value_info(nchw.name + "_nhwc", elem_type, shape))
    onnx.checker.check_model(model)
    return model


def _runners(tflite_path: Path, onnx_path: Path, image: np.ndarray) -> tuple[Callable, Callable]:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path), num_threads=1)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]

    def run_tflite() -> None:
        interpreter.set_tensor(index, image)
        interpreter.invoke()

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    feed = {session.get_inputs()[0].name: image}  # both models take NHWC float32
    return run_tflite, lambda: session.run(None, feed)


def time_prefixes(
    pairs: list[tuple[Path, Path]], input_shape: tuple[int, ...], runs: int, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Median wall time (ms) of each prefix in LiteRT and onnxruntime, one thread.

    Every model is warmed up, then timed once per round, ``runs`` rounds, in an order
    shuffled each round so drift hits all alike; all take one seeded random input of
    ``input_shape``.
    """
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1.0, 1.0, input_shape).astype(np.float32)
    fns = [fn for tf, on in pairs for fn in _runners(tf, on, image)]
    for fn in fns:
        for _ in range(3):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for j in rng.permutation(len(fns)):
            t0 = time.perf_counter()
            fns[j]()
            times[j].append((time.perf_counter() - t0) * 1e3)
    medians = [float(np.median(t)) for t in times]
    return medians[0::2], medians[1::2]


def kind_table(
    cuts: list[Cut], tflite_ms: list[float], onnx_ms: list[float]
) -> list[dict[str, object]]:
    """Per kind of op: count and summed growth of each runtime's median, ms.

    ``tflite_ms``/``onnx_ms`` hold one median per cut and a last one for the full model;
    what follows the last cut (pooling, the embedding layer) is the kind "tail". The
    sums telescope: the kinds add up to the full model's median.
    """
    rows: dict[str, dict[str, object]] = {}
    prev_tf = prev_on = 0.0
    for kind, tf, on in zip([c.kind for c in cuts] + ["tail"], tflite_ms, onnx_ms, strict=True):
        row = rows.setdefault(kind, {"kind": kind, "count": 0, "litert_ms": 0.0, "onnx_ms": 0.0})
        row["count"] += 1
        row["litert_ms"] += tf - prev_tf
        row["onnx_ms"] += on - prev_on
        prev_tf, prev_on = tf, on
    return sorted(rows.values(), key=lambda r: r["onnx_ms"] - r["litert_ms"])


def format_table(rows: list[dict[str, object]]) -> str:
    """Markdown table of ``kind_table``'s rows with a total line."""
    lines = [
        "| op kind | count | LiteRT ms | onnxruntime ms | LiteRT - onnxruntime |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        tf, on = r["litert_ms"], r["onnx_ms"]
        lines.append(f"| {r['kind']} | {r['count']} | {tf:.2f} | {on:.2f} | {tf - on:+.2f} |")
    tf, on = sum(r["litert_ms"] for r in rows), sum(r["onnx_ms"] for r in rows)
    lines.append(f"| total | | {tf:.2f} | {on:.2f} | {tf - on:+.2f} ({tf / on:.3f}x) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Pair, cut and time both int8 models of a ``dist`` folder; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, required=True, help="export folder")
    parser.add_argument("--tflite", default="model.tflite", help="name in --dist")
    parser.add_argument("--onnx", default="model_int8.onnx", help="name in --dist")
    parser.add_argument("--runs", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    tflite_path, onnx_path = args.dist / args.tflite, args.dist / args.onnx
    models = read_models(tflite_path, onnx_path)
    cuts = paired_cuts(models)
    print(f"{len(cuts)} paired ops; timing {len(cuts) + 1} prefixes x 2 runtimes x {args.runs}")
    with tempfile.TemporaryDirectory(prefix="runtime-ops-") as tmp:
        pairs = write_prefix_models(models, cuts, Path(tmp))
        pairs.append((tflite_path, onnx_path))
        tflite_ms, onnx_ms = time_prefixes(pairs, models.input_shape, args.runs)
    rows = kind_table(cuts, tflite_ms, onnx_ms)
    print(format_table(rows))
    print(f"full model: LiteRT {tflite_ms[-1]:.2f} ms, onnxruntime {onnx_ms[-1]:.2f} ms")
    if args.json:
        payload = {
            "cuts": [asdict(c) for c in cuts],
            "litert_ms": tflite_ms,
            "onnx_ms": onnx_ms,
            "rows": rows,
            "runs": args.runs,
        }
        write_text_atomic(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
