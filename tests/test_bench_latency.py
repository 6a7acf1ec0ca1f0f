"""Latency harness: interleaving, statistics, targets, report schema; a tiny run on the
small export; accuracy and the Markdown report from it."""

import json

import numpy as np
import pytest

from benchmarks.latency import time_interleaved
from benchmarks.schema import (
    SCHEMA,
    LatencyReport,
    LatencyResult,
    ReportFormatError,
    Target,
    check_targets,
    summarize_ms,
)

# ------------------------------------------------------------------ no model needed


def test_time_interleaved_rotates_blocks():
    order = []
    runs = {name: (lambda n=name: order.append(n)) for name in "abc"}
    times = time_interleaved(runs, n=7, warmup=2, block=3)
    assert {k: len(v) for k, v in times.items()} == {"a": 7, "b": 7, "c": 7}
    assert order[:6] == list("aabbcc")  # warm-up, one variant after the other
    rounds = order[6:]
    # each round: every variant once untimed + up to 3 timed; start rotates a, b, c
    assert rounds[:12] == list("aaaabbbbcccc")
    assert rounds[12:24] == list("bbbbccccaaaa")
    assert rounds[24:] == list("ccaabb")  # last round: 1 timed run left each
    assert all(t >= 0 for v in times.values() for t in v)


def test_time_interleaved_rejects_bad_counts():
    with pytest.raises(ValueError):
        time_interleaved({"a": lambda: None}, n=0, warmup=1)


def test_summarize_is_nearest_rank():
    s = summarize_ms(list(range(1, 101))[::-1])  # 1..100 ms, any order
    assert (s["p50_ms"], s["p90_ms"], s["p99_ms"]) == (50.0, 90.0, 99.0)
    assert (s["min_ms"], s["max_ms"], s["mean_ms"]) == (1.0, 100.0, 50.5)
    assert s["std_ms"] == pytest.approx(np.std(np.arange(1, 101)))
    one = summarize_ms([4.0])
    assert one["p50_ms"] == one["p99_ms"] == 4.0
    with pytest.raises(ValueError):
        summarize_ms([])


def _row(name, ms, threads=1, xnnpack=None):
    return LatencyResult(name, "model", "x", "int8", threads, xnnpack, 10, 1, p50_ms=ms)


def test_targets_met_missed_and_missing():
    rows = [
        _row("model.tflite", 5.0, xnnpack=True),
        _row("model_int8.onnx", 4.0),
        _row("checkpoint.pt", 25.0),  # any single .pt serves as "model.pt"
        _row("model.tflite", 1.0, threads=2),
    ]
    targets = [
        Target("model.tflite", "model.pt", 0.25),
        Target("model.tflite", "model_int8.onnx", 1.0),
        Target("model.tflite", "model.pt", 0.25, threads=4),
    ]
    met, missed, missing = check_targets(rows, targets)
    assert (met.ratio, met.met, met.headroom) == (0.2, True, pytest.approx(0.2))
    assert "met (20.0% under the limit)" in met.sentence()
    assert (missed.ratio, missed.met, missed.headroom) == (1.25, False, pytest.approx(-0.25))
    assert "NOT met (25.0% over the limit)" in missed.sentence()
    assert missing.met is None and "no 4-thread model.tflite" in missing.sentence()


def test_report_round_trip(tmp_path):
    rows = [_row("model.tflite", 5.0), _row("model.pt", 25.0)]
    report = LatencyReport("host", {"cpu": "x"}, rows, check_targets(rows), {"runs": 10})
    report.save(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["schema"] == SCHEMA and doc["targets"][0]["met"] is True
    back = LatencyReport.load(tmp_path / "r.json")
    assert back.results == rows and back.targets == report.targets
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(ReportFormatError, match="bad.json"):
        LatencyReport.load(tmp_path / "bad.json")


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="stage"):
        LatencyResult("m", "warmup", "x", None, 1, None, 1)


# ------------------------------------------------------------- on the small export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from _export_helpers import require_export_extra, small_export

    require_export_extra()
    return small_export(tmp_path_factory)


@pytest.fixture(scope="module")
def latency(exported):
    from benchmarks.latency import run_latency

    dist = exported.dist
    models = [dist / "model.tflite", dist / "model_int8.onnx", exported.checkpoint]
    return run_latency(
        models,
        threads=(1, 2),
        runs=3,
        warmup=1,
        memory=False,
        end_to_end_model=dist / "model.tflite",
        index_size=500,
        data=exported.data,
        progress=False,
    )


def test_end_to_end_through_the_approximate_index(exported):
    """--end-to-end-approx adds an HNSW search row and an HNSW end-to-end row per frame
    size, timed in the same loop, after the exact rows."""
    pytest.importorskip("usearch", reason="the approx extra (usearch) is not installed")
    from benchmarks.frames import query_frames
    from benchmarks.latency import end_to_end_latency

    frames = {"640x480": query_frames(exported.data, count=2, size=(640, 480))}
    rows = end_to_end_latency(
        exported.dist / "model.tflite", (1,), 3, 1, frames, 300, progress=False, approx=True
    )
    assert [r.stage for r in rows] == [
        "decode", "preprocess", "embed", "search", "end-to-end", "search", "end-to-end",
    ]  # fmt: skip
    assert "HNSW" not in rows[3].name + rows[4].name
    assert rows[5].name == "search 300 rows int8 HNSW, k=5"
    assert rows[6].name == "photo 640x480 -> top-5 (ProductSearch.search, HNSW)"
    assert "x embed (p50, same run)" in rows[6].note
    assert all(r.p50_ms > 0 and r.runs == 3 for r in rows)


def test_latency_schema(latency):
    model_rows = [r for r in latency.results if r.stage == "model"]
    assert [(r.name, r.threads) for r in model_rows] == [
        (name, t) for t in (1, 2) for name in ("model.tflite", "model_int8.onnx", "model.pt")
    ]
    by_name = {r.name: r for r in model_rows}
    assert (by_name["model.tflite"].runtime, by_name["model.tflite"].precision) == (
        "LiteRT",
        "int8",
    )
    assert by_name["model.tflite"].xnnpack is True
    assert by_name["model_int8.onnx"].runtime == "onnxruntime"
    assert (by_name["model.pt"].runtime, by_name["model.pt"].precision) == ("PyTorch eager", "fp32")
    stages = [(r.stage, r.threads) for r in latency.results if r.stage != "model"]
    stage_names = ("decode", "preprocess", "embed", "search", "end-to-end")
    assert stages == [(s, t) for t in (1, 2) for _ in ("camera", "12 MP") for s in stage_names]
    e2e = [r for r in latency.results if r.stage == "end-to-end"]
    assert [r.name.split()[1] for r in e2e] == ["1280x960", "4032x3024"] * 2
    assert all("x embed (p50, same run)" in r.note for r in e2e)
    decodes = [r.name for r in latency.results if r.stage == "decode"]
    assert decodes[:2] == [
        "decode JPEG 1280x960 at 1/2 scale",
        "decode JPEG 4032x3024 at 1/8 scale",
    ]
    for r in latency.results:
        assert (r.runs, r.warmup) == (3, 1)
        assert 0 < r.min_ms <= r.p50_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
        assert r.peak_memory_mb is None  # memory=False
    assert [c.target.reference for c in latency.targets] == ["model.pt", "model_int8.onnx"]
    for c in latency.targets:
        assert c.met is not None and c.ratio == pytest.approx(c.subject_ms / c.reference_ms)
    assert latency.machine["logical_cores"] >= 1 and latency.machine["python"]
    assert LatencyReport.from_dict(json.loads(json.dumps(latency.to_dict()))).results == (
        latency.results
    )


def test_memory_probe_in_a_child_process(exported):
    from benchmarks.memory_probe import measure_memory

    mem = measure_memory(str(exported.dist / "model.tflite"), 1)
    assert mem["peak_mb"] > mem["baseline_mb"] > 0
    assert mem["delta_mb"] == pytest.approx(mem["peak_mb"] - mem["baseline_mb"])


def test_accuracy_and_report(exported, latency, tmp_path):
    from benchmarks.accuracy import AccuracyReport, run_accuracy
    from benchmarks.report import write_report
    from mobile_sdk.dataset_layout import scan_dataset

    dist = exported.dist
    report = run_accuracy(
        [dist / "model.tflite", dist / "model.onnx", exported.checkpoint],
        exported.data,
        baseline=False,
        latency=latency,
        n_examples=3,
        progress=False,
    )
    rows = {r.name: r for r in report.rows}
    assert list(rows) == ["model.tflite", "model.onnx", "model.pt"]
    assert rows["model.tflite"].latency_ms == next(
        r.p50_ms for r in latency.results if r.name == "model.tflite" and r.threads == 1
    )
    assert rows["model.onnx"].latency_ms is None  # not in the latency run
    assert rows["model.tflite"].size_mb == (dist / "model.tflite").stat().st_size / 1e6
    # the export report measured the same files on the same data
    export = json.loads((dist / "export_report.json").read_text())
    by_file = {f["file"]: f for f in export["files"]}
    assert rows["model.onnx"].top1 == pytest.approx(by_file["model.onnx"]["retrieval"]["top1"])
    dataset = scan_dataset(exported.data)
    assert rows["model.pt"].queries == dataset.num_photos
    assert report.example_model == "model.tflite" and len(report.examples) == 3
    assert len({e.product_id for e in report.examples}) == 3
    for e in report.examples:
        assert len(e.top) == 4  # 4 products in the small dataset: all ranked
        assert [s for _, s in e.top] == sorted((s for _, s in e.top), reverse=True)
    assert AccuracyReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report

    path = write_report(tmp_path / "report", latency, report)
    text = path.read_text()
    for heading in (
        "## Machine",
        "## Latency targets",
        "## Model latency",
        "## End to end",
        "## Retrieval accuracy",
    ):
        assert heading in text
    for plot in ("latency.png", "end_to_end.png", "accuracy_vs_size.png", "examples.png"):
        assert (tmp_path / "report" / plot).stat().st_size > 1000
        assert f"]({plot})" in text
    assert LatencyReport.load(tmp_path / "report" / "latency.json").results == latency.results


def test_cli_latency_json(exported, tmp_path, capsys, bench_env):
    from mobile_sdk.cli import main

    out = tmp_path / "latency.json"
    code = main(
        [
            "bench",
            "latency",
            "--model",
            str(exported.dist / "model.tflite"),
            "--model",
            str(exported.dist / "model_int8.onnx"),
            "--threads",
            "1",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--no-memory",
            "--end-to-end",
            "none",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    report = LatencyReport.load(out)
    assert [(r.name, r.runs) for r in report.results] == [
        ("model.tflite", 2),
        ("model_int8.onnx", 2),
    ]
    checks = report.targets
    assert checks[0].met is None and "no 1-thread model.pt" in checks[0].reason
    assert checks[1].met is not None
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"timed 2 models at 1 thread(s), latency targets met: {int(checks[1].met)}/2; wrote {out}"
    )


def test_cli_report(exported, tmp_path, capsys, bench_env):
    from mobile_sdk.cli import main

    out = tmp_path / "report"
    code = main(
        [
            "bench",
            "report",
            "--dist",
            str(exported.dist),
            "--checkpoint",
            str(exported.checkpoint),
            "--data",
            str(exported.data),
            "--out",
            str(out),
            "--threads",
            "1",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--no-memory",
            "--index-size",
            "100",
            "--quiet",
        ]
    )
    assert code == 0
    names = [r["name"] for r in json.loads((out / "accuracy.json").read_text())["rows"]]
    assert names == [
        "model.tflite",
        "model_fp16.tflite",
        "model_fp32.tflite",
        "model_int8.onnx",
        "model.onnx",
        "model.pt",
        "pretrained",
    ]
    assert sorted(p.name for p in out.glob("*.png")) == [
        "accuracy_vs_size.png",
        "end_to_end.png",
        "examples.png",
        "latency.png",
    ]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"wrote {out / 'report.md'} and 4 plots: ")
