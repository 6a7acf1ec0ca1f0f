"""ARM parity comparison logic, on x86 (the emulated run itself is 'make arm-parity').

The in-root runner is run here on the host: against its own golden bundle every
check must pass; perturbed results must fail the check they break.
"""

import copy
import json

import numpy as np
import pytest

from benchmarks.arm_parity import compare, emulate_cpu, output_step, run_inside
from benchmarks.arm_parity.comparison import _same_ranking


def test_same_ranking():
    expected = [["a", 0.9], ["b", 0.9000001], ["c", 0.5]]
    assert _same_ranking(expected, [["a", 0.9], ["b", 0.9], ["c", 0.5]], 0) == (True, True)
    swapped = [["b", 0.9], ["a", 0.9], ["c", 0.5]]
    assert _same_ranking(expected, swapped, 1e-5) == (False, True)  # a float tie
    assert _same_ranking(expected, swapped, 0) == (False, False)
    assert _same_ranking(expected, [["a", 0.9], ["c", 0.5], ["b", 0.4]], 1e-5) == (False, False)
    assert _same_ranking(expected, [["a", 0.9], ["b", 0.9], ["d", 0.5]], 1) == (False, False)


def test_emulated_cpu_files(tmp_path):
    assert emulate_cpu(tmp_path, "cortex-a76") == ["QEMU_CPU=cortex-a76"]
    cpuinfo = (tmp_path / "proc/cpuinfo").read_text()
    assert "CPU part\t: 0xd0b" in cpuinfo and " asimddp" in cpuinfo
    for name in ("possible", "present", "online"):
        assert (tmp_path / "sys/devices/system/cpu" / name).read_text() == "0\n"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from _export_helpers import require_export_extra, small_export

    from export.golden import write_golden

    require_export_extra()
    exported = small_export(tmp_path_factory)
    root = tmp_path_factory.mktemp("parity")
    out = {}
    for precision, name in (("int8", "model.tflite"), ("fp32", "model_fp32.tflite")):
        bundle = write_golden(exported.dist / name, root / f"golden-{precision}")
        out[precision] = (bundle, run_inside(bundle, root / f"arm-{precision}.json"))
    return out


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_host_against_itself_passes(bundles, precision):
    bundle, arm = bundles[precision]
    assert arm["machine"] == "x86_64" and len(arm["inputs"]) == 7
    assert json.loads((bundle.parent / f"arm-{precision}.json").read_text()) == arm
    result = compare(bundle, arm, precision)
    assert result["ok"], result["checks"]
    assert [c["check"] for c in result["checks"]][0] == "preprocessed tensors bit-identical"
    assert result["max_abs_diff"] == 0.0


def test_int8_one_step_passes_two_steps_fail(bundles):
    bundle, arm = bundles["int8"]
    step = output_step(bundle / "model.tflite")
    assert step is not None and 0 < step < 1

    def shifted(by: float) -> dict:
        moved = copy.deepcopy(arm)
        raw = np.array(moved["inputs"][0]["raw"], np.float32)
        raw[0] += np.float32(by * step)
        moved["inputs"][0]["raw"] = raw.tolist()
        return moved

    check = "int8 model output within one quantization step"
    results = {by: compare(bundle, shifted(by), "int8") for by in (1.0, 2.0)}
    assert {c["check"]: c["ok"] for c in results[1.0]["checks"]}[check] is True
    assert {c["check"]: c["ok"] for c in results[2.0]["checks"]}[check] is False


def test_fp32_drift_and_ranking_changes_fail(bundles):
    bundle, arm = bundles["fp32"]
    broken = copy.deepcopy(arm)
    broken["inputs"][1]["raw"] = (-np.array(broken["inputs"][1]["raw"])).tolist()
    first = broken["inputs"][0]
    first["top"]["int8"] = first["top"]["int8"][::-1]
    first["tensor_bit_exact"] = False
    result = {c["check"]: c for c in compare(bundle, broken, "fp32")["checks"]}
    assert not result["fp32 model output cosine >= 0.99999"]["ok"]
    assert not result["top-5 of every input, int8 index"]["ok"]
    assert result["preprocessed tensors bit-identical"]["detail"] == "6/7 inputs"
    assert result["top-5 of every input, float32 index"]["ok"]
