"""ARM64 parity: the Python runtime on arm64 (emulated) reproduces the x86 results.

``make arm-parity`` (``python -m benchmarks.arm_parity --dist dist``):

1. tools: ``qemu-user-static``, ``binfmt-support`` and ``debootstrap`` (installed with
   apt-get when missing and running as root); the qemu-aarch64 binfmt handler is
   enabled so arm64 programs run transparently;
2. an arm64 Debian root (bookworm, minbase + python3 + python3-venv) is built once
   under ``~/.cache/deepproduct/arm64-root`` (``--cache``): ``debootstrap --foreign``,
   then its second stage under qemu (a few minutes, ~400 MB). It is built in a
   ``.partial`` folder and renamed when complete, so an interrupted build is redone;
3. aarch64 wheels of the runtime's dependencies, at the versions installed on this
   host (ai-edge-litert, numpy, pillow, tqdm), are fetched on the host with ``pip
   download --platform …aarch64`` and installed into ``/opt/venv`` inside the root
   with ``--no-index --find-links`` (redone only when the versions change);
4. on x86, ``export.golden.write_golden`` writes a golden bundle for the int8
   ``model.tflite`` and for ``model_fp32.tflite``: generated PNG inputs, their exact
   preprocessed tensors, the model outputs, float32 and int8 indexes and searches;
5. inside the root, this module (``--inside``) runs ``mobile_sdk`` on every bundle:
   decode and preprocess each PNG, embed it, search both indexes, replay the stored
   searches. qemu emulates a Cortex-A76 (``--cpu``), a common phone core, and the root
   describes that core to LiteRT, so XNNPACK runs as on a phone (see ``emulate_cpu``);
6. the host compares: preprocessed tensors bit for bit; fp32 model outputs cosine
   >= 0.99999; int8 model outputs within one step of the output quantization; the
   top-5 of every input in both indexes and every stored search identical (float32
   ties within the float tolerance of ``INDEX_FORMAT.md`` may swap).

Emulation is slow (100-450x): this is a correctness check, not a timing. It needs
root (chroot, mounts) and network access for apt, debootstrap and pip the first time.
Results go to ``benchmarks/report/arm_parity.{md,json}``; the exit status is 1 when a
check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mobile_sdk.errors import run_reporting_errors

SUITE = "bookworm"  # Debian 12: Python 3.11, matching the cp311 wheels fetched for it
MIRROR = "http://deb.debian.org/debian"
APT_PACKAGES = ("qemu-user-static", "binfmt-support", "debootstrap")
QEMU = "/usr/bin/qemu-aarch64-static"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
RUNTIME_PACKAGES = ("ai-edge-litert", "numpy", "pillow", "tqdm")
PIP_PLATFORMS = (
    "manylinux_2_27_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux2014_aarch64",
)
# Cores qemu can emulate that phones have (ARMv8.2: fp16 and dot product): MIDR fields
# and the /proc/cpuinfo feature names matching qemu's AT_HWCAP for them.
EMULATED_CPUS = {
    "cortex-a76": {
        "part": "0xd0b",
        "variant": "0x4",
        "features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
        "asimdrdm lrcpc dcpop asimddp",
    },
    "neoverse-n1": {
        "part": "0xd0c",
        "variant": "0x3",
        "features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
        "asimdrdm lrcpc dcpop asimddp ssbs",
    },
}
FP32_MIN_COSINE = 0.99999
TOP_K = 5
INSIDE = Path("/opt/deepproduct")  # in the arm64 root: src/, wheels/, work/
VENV = "/opt/venv"
_ROOT_MARKER = ".deepproduct-root-complete"
_VENV_MARKER = ".deepproduct-requirements"


class ArmParityError(Exception):
    """A setup step failed (tools, root, wheels, chroot run); the message says which."""


# ----------------------------------------------------------------- inside the arm64 root


def run_inside(bundle: Path, result: Path) -> dict[str, Any]:
    """Run the runtime on one golden bundle (this is what executes on arm64).

    Writes ``result`` (JSON): the platform, versions, per input whether the
    preprocessed tensor is bit-identical to the bundle's, the raw and normalised
    embeddings and the top-5 of both indexes, and the replay of the stored searches.
    """
    from importlib import metadata

    from mobile_sdk.embedder import Embedder, EmbedderOptions
    from mobile_sdk.index import ProductIndex
    from mobile_sdk.model_metadata import read_model_metadata
    from mobile_sdk.preprocess import preprocess

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    model = bundle / manifest["model"]["file"]
    config = read_model_metadata(model).preprocess
    index_doc = manifest["index"]
    fingerprint = index_doc["fingerprint"]
    indexes = {
        dtype: ProductIndex.load(bundle / f["file"], expected_fingerprint=fingerprint)
        for dtype, f in index_doc["files"].items()
    }
    inputs = []
    embed_seconds = []
    with (
        Embedder.from_model_path(model, EmbedderOptions(l2_normalize=False)) as raw_model,
        Embedder.from_model_path(model) as model_normalized,
    ):
        for entry in manifest["inputs"]:
            tensor = preprocess(bundle / entry["png"], config)
            golden = np.fromfile(bundle / entry["tensor"], "<f4").reshape(tensor.shape)
            t0 = time.perf_counter()
            raw = raw_model.embed_input(tensor[None])[0]
            embed_seconds.append(time.perf_counter() - t0)
            normalized = model_normalized.embed_input(tensor[None])[0]
            inputs.append(
                {
                    "name": entry["name"],
                    "tensor_bit_exact": bool(
                        np.array_equal(tensor.view(np.uint32), golden.view(np.uint32))
                    ),
                    "raw": raw.tolist(),
                    "normalized": normalized.tolist(),
                    "top": {
                        dtype: [[h.product_id, h.score] for h in index.search(normalized, TOP_K)]
                        for dtype, index in indexes.items()
                    },
                }
            )
    queries = np.fromfile(bundle / index_doc["queries"], "<f4").reshape(-1, index_doc["dimension"])
    replayed = []
    for s in index_doc["searches"]:
        hits = indexes[s["dtype"]].search(queries[s["query"]], k=s["k"], min_score=s["min_score"])
        replayed.append([[h.product_id, h.score] for h in hits])
    doc = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in ("ai-edge-litert", "numpy", "pillow")},
        "embed_seconds_median": float(np.median(embed_seconds)),
        "inputs": inputs,
        "searches": replayed,
    }
    result.write_text(json.dumps(doc), encoding="utf-8")
    return doc


# --------------------------------------------------------------------------- comparing


def output_step(model: Path) -> float | None:
    """The int8 output's quantization step (scale) of a ``.tflite`` model, or None.

    The exported int8 model ends in DEQUANTIZE: its float output is ``scale * (q -
    zero_point)`` of an int8 tensor of the same shape, so one step of ``q`` is
    ``scale``.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    shape = tuple(interpreter.get_output_details()[0]["shape"])
    steps = [
        (t["index"], float(t["quantization"][0]))
        for t in interpreter.get_tensor_details()
        if t["dtype"] in (np.int8, np.uint8)
        and tuple(t["shape"]) == shape
        and t["quantization"][0] > 0
    ]
    return max(steps)[1] if steps else None


def _same_ranking(expected: Sequence, got: Sequence, tolerance: float) -> tuple[bool, bool]:
    """(identical, identical up to ties): ids in order; a swap counts as a tie when the
    two products' expected scores are within ``tolerance``."""
    exp_ids = [h[0] for h in expected]
    got_ids = [h[0] for h in got]
    if exp_ids == got_ids:
        return True, True
    if sorted(exp_ids) != sorted(got_ids):
        return False, False
    score = {pid: s for pid, s in expected}
    ties = all(abs(score[a] - score[b]) <= tolerance for a, b in zip(exp_ids, got_ids, strict=True))
    return False, ties


def compare(bundle: Path, arm: dict[str, Any], precision: str) -> dict[str, Any]:
    """Check one bundle's arm64 results against the x86 values stored in it."""
    from mobile_sdk.index import ProductIndex

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    dim = manifest["index"]["dimension"]
    n = len(manifest["inputs"])
    x86_raw = np.fromfile(bundle / manifest["embeddings"]["raw"], "<f4").reshape(n, -1)
    x86_norm = np.fromfile(bundle / manifest["embeddings"]["normalized"], "<f4").reshape(n, -1)
    arm_raw = np.array([i["raw"] for i in arm["inputs"]], np.float32)
    fingerprint = manifest["index"]["fingerprint"]
    indexes = {
        dtype: ProductIndex.load(bundle / f["file"], expected_fingerprint=fingerprint)
        for dtype, f in manifest["index"]["files"].items()
    }
    tolerance = dim * 2.0**-23  # float32 score tolerance (INDEX_FORMAT.md, golden notes)
    a, b = arm_raw.astype(np.float64), x86_raw.astype(np.float64)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    max_abs = float(np.abs(a - b).max())
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    exact = sum(i["tensor_bit_exact"] for i in arm["inputs"])
    check("preprocessed tensors bit-identical", exact == n, f"{exact}/{n} inputs")
    if precision == "int8":
        step = output_step(bundle / manifest["model"]["file"])
        if step is None:
            check(
                f"model output cosine >= {FP32_MIN_COSINE}",
                cosine.min() >= FP32_MIN_COSINE,
                f"no int8 output tensor; min cosine {cosine.min():.7f}",
            )
        else:
            steps = max_abs / step
            check(
                "int8 model output within one quantization step",
                steps <= 1 + 1e-6,
                f"max abs diff arm vs x86 = {max_abs:.3g} = {steps:.2f} steps of {step:.3g}; "
                f"min cosine {cosine.min():.7f}",
            )
    else:
        check(
            f"fp32 model output cosine >= {FP32_MIN_COSINE}",
            cosine.min() >= FP32_MIN_COSINE,
            f"min cosine {cosine.min():.9f}, max abs diff arm vs x86 = {max_abs:.3g}",
        )
    for dtype, index in indexes.items():
        same = tied = 0
        for j, item in enumerate(arm["inputs"]):
            expected = [[h.product_id, h.score] for h in index.search(x86_norm[j], TOP_K)]
            s, t = _same_ranking(
                expected, item["top"][dtype], tolerance if dtype == "float32" else 0
            )
            same, tied = same + s, tied + t
        ok = tied == n if dtype == "float32" else same == n
        check(
            f"top-{TOP_K} of every input, {dtype} index",
            ok,
            f"{same}/{n} identical"
            + (f", {tied}/{n} up to float ties" if dtype == "float32" else ""),
        )
    same = tied = 0
    searches = manifest["index"]["searches"]
    for s, got in zip(searches, arm["searches"], strict=True):
        expected = [[h["id"], h["score"]] for h in s["expected"]]
        if s["dtype"] == "int8":  # bit-exact scores by INDEX_FORMAT.md section 4
            ok = expected == got
            same, tied = same + ok, tied + ok
        else:
            a_ok, t_ok = _same_ranking(expected, got, tolerance)
            close = all(abs(e[1] - g[1]) <= tolerance for e, g in zip(expected, got, strict=False))
            same, tied = same + a_ok, tied + (t_ok and close)
    check(
        "stored searches (int8 bit-exact, float32 within tolerance)",
        tied == len(searches),
        f"{same}/{len(searches)} identical, {tied}/{len(searches)} within float ties",
    )
    return {
        "bundle": str(bundle),
        "precision": precision,
        "inputs": n,
        "min_cosine": float(cosine.min()),
        "max_abs_diff": max_abs,
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
    }


# ------------------------------------------------------------------------------- setup


def _run(cmd: Sequence[str], log: Path, what: str, **kwargs: Any) -> None:
    """Run ``cmd`` with its output appended to ``log``; ArmParityError with the log's
    tail when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-25:])
        raise ArmParityError(f"{what} failed (exit {proc.returncode}); end of {log}:\n{tail}")


def ensure_tools(log: Path) -> None:
    """qemu-user-static, binfmt-support and debootstrap, from apt when missing."""
    missing = [
        p
        for p, exe in zip(APT_PACKAGES, (QEMU, "update-binfmts", "debootstrap"), strict=True)
        if shutil.which(exe) is None
    ]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ArmParityError(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    try:
        _run(install, log, "apt-get install", env=env)
    except ArmParityError:  # stale package lists
        _run(["apt-get", "update", "-q"], log, "apt-get update", env=env)
        _run(install, log, "apt-get install", env=env)


def ensure_binfmt(log: Path) -> None:
    """Register qemu-aarch64 with the kernel's binfmt_misc (with the F flag, so that
    it also works inside the chroot)."""
    if not (BINFMT / "status").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], log, "mount binfmt_misc")
    entry = BINFMT / "qemu-aarch64"
    if not entry.exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    if not entry.exists():
        conf = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")  # shipped by qemu-user-static
        if not conf.exists():
            raise ArmParityError(f"cannot register qemu-aarch64: {conf} missing")
        (BINFMT / "register").write_text(conf.read_text().strip())
    if "enabled" not in entry.read_text():
        entry.write_text("1")


@contextlib.contextmanager
def proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside ``root`` for the duration (pip and venv creation want it)."""
    target = root / "proc"
    target.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(target):
        yield
        return
    subprocess.run(["mount", "-t", "proc", "proc", str(target)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def emulate_cpu(root: Path, cpu: str) -> list[str]:
    """Make the root look like one core of ``cpu`` to LiteRT; the environment to run with.

    XNNPACK's CPU detection (cpuinfo) reads ``/proc/cpuinfo`` and
    ``/sys/devices/system/cpu``: the host's (x86) files crash it, and without any it
    gives up and LiteRT falls back to its builtin kernels, which round differently
    from XNNPACK (what phones run). So the root gets plain files describing the core
    that ``QEMU_CPU`` makes qemu emulate, with the same features qemu reports in
    ``AT_HWCAP``. qemu's default ``max`` CPU (SVE2, SME) is avoided: under qemu 7.2
    XNNPACK's kernels for it return wrong numbers.
    """
    spec = EMULATED_CPUS[cpu]
    if os.path.ismount(root / "proc") or os.path.ismount(root / "sys"):
        raise ArmParityError(f"{root}/proc or /sys is mounted: unmount it first")
    cpuinfo = (
        "processor\t: 0\nBogoMIPS\t: 50.00\n"
        f"Features\t: {spec['features']}\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\n"
        f"CPU variant\t: {spec['variant']}\nCPU part\t: {spec['part']}\nCPU revision\t: 1\n\n"
    )
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/cpuinfo").write_text(cpuinfo)
    cpus = root / "sys/devices/system/cpu"
    cpus.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpus / name).write_text("0\n")
    return [f"QEMU_CPU={cpu}"]


def chroot(root: Path, *cmd: str, env: Sequence[str] = ()) -> list[str]:
    """The command line running ``cmd`` inside ``root`` with a clean environment
    (plus ``env``, ``NAME=value`` strings)."""
    base = ["PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8"]
    return ["chroot", str(root), "/usr/bin/env", "-i", *base, *env, *cmd]


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as f:
        points = [line.split()[1].encode().decode("unicode_escape") for line in f]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _safe_rmtree(path: Path) -> None:
    """Remove a (partial) root, never through a mount (a bound /dev would be the host's)."""
    if not path.exists():
        return
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True)
    left = _mounts_under(path)
    if left:
        raise ArmParityError(f"cannot remove {path}: still mounted: {', '.join(left)}")
    shutil.rmtree(path)


def ensure_root(cache: Path, mirror: str, log: Path) -> Path:
    """The arm64 Debian root, built once (debootstrap, two stages)."""
    root = cache / "arm64-root"
    if (root / _ROOT_MARKER).exists():
        return root
    partial = cache / "arm64-root.partial"
    _safe_rmtree(partial)
    _safe_rmtree(root)
    cache.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "debootstrap",
            "--arch=arm64",
            "--foreign",
            "--variant=minbase",
            "--include=python3,python3-venv",
            SUITE,
            str(partial),
            mirror,
        ],
        log,
        "debootstrap (first stage)",
    )
    shutil.copy2(QEMU, partial / "usr/bin/qemu-aarch64-static")
    _run(
        chroot(partial, "/debootstrap/debootstrap", "--second-stage"),
        log,
        "debootstrap --second-stage (under qemu)",
    )
    (partial / _ROOT_MARKER).write_text(f"{SUITE} arm64 minbase + python3 python3-venv\n")
    partial.rename(root)
    return root


def requirements() -> list[str]:
    """The runtime's dependencies pinned to this host's versions."""
    from importlib import metadata

    return [f"{p}=={metadata.version(p)}" for p in RUNTIME_PACKAGES]


def ensure_wheels(cache: Path, python_version: str, log: Path) -> Path:
    """aarch64 wheels of ``requirements()`` (and their dependencies), fetched once."""
    reqs = requirements()
    wheels = cache / f"arm64-wheels-cp{python_version.replace('.', '')}"
    listing = wheels / "requirements.txt"
    if listing.exists() and listing.read_text().split() == reqs:
        return wheels
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    platforms = [arg for p in PIP_PLATFORMS for arg in ("--platform", p)]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            *platforms,
            "--dest",
            str(wheels),
            *reqs,
        ],
        log,
        "pip download (aarch64 wheels)",
    )
    listing.write_text("\n".join(reqs) + "\n")
    return wheels


def ensure_venv(root: Path, wheels: Path, log: Path) -> None:
    """/opt/venv inside the root with the wheels installed offline."""
    reqs = (wheels / "requirements.txt").read_text()
    marker = root / VENV.lstrip("/") / _VENV_MARKER
    if marker.exists() and marker.read_text() == reqs:
        return
    inside_wheels = root / INSIDE.relative_to("/") / "wheels"
    shutil.rmtree(inside_wheels, ignore_errors=True)
    shutil.copytree(wheels, inside_wheels)
    shutil.rmtree(root / VENV.lstrip("/"), ignore_errors=True)
    _run(chroot(root, "/usr/bin/python3", "-m", "venv", VENV), log, "python3 -m venv (arm64)")
    _run(
        chroot(
            root,
            f"{VENV}/bin/pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(INSIDE / "wheels"),
            "-r",
            str(INSIDE / "wheels/requirements.txt"),
        ),
        log,
        "pip install --no-index (arm64)",
    )
    marker.write_text(reqs)


def copy_sources(root: Path) -> None:
    """This checkout's ``mobile_sdk`` and this module into the root (fresh each run)."""
    repo = Path(__file__).resolve().parent.parent
    src = root / INSIDE.relative_to("/") / "src"
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(repo / "mobile_sdk", src / "mobile_sdk", ignore=ignore)
    (src / "benchmarks").mkdir(parents=True)
    for name in ("__init__.py", "arm_parity.py"):
        shutil.copy2(repo / "benchmarks" / name, src / "benchmarks" / name)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# --------------------------------------------------------------------------------- main


def markdown(results: list[dict[str, Any]], arm: dict[str, dict[str, Any]], setup: dict) -> str:
    """The parity results as a Markdown section."""
    lines = [
        "# ARM64 parity (qemu-user emulation)\n",
        f"x86_64 host vs {setup['guest']} (Debian {SUITE} under qemu-aarch64, emulating a "
        f"{setup['cpu']} core; LiteRT runs XNNPACK on both sides), "
        f"Python {setup['guest_python']}; wheels: {', '.join(setup['requirements'])}.\n",
        "| model | check | result | detail |",
        "|---|---|---|---|",
    ]
    for r in results:
        for c in r["checks"]:
            lines.append(
                f"| {Path(r['model']).name} ({r['precision']}) | {c['check']} "
                f"| {'pass' if c['ok'] else 'FAIL'} | {c['detail']} |"
            )
    lines.append("")
    for name, doc in arm.items():
        lines.append(
            f"- {name}: one embedding took {doc['embed_seconds_median']:.2f} s under emulation "
            "(a correctness check, not a timing)"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``make arm-parity``; returns 0 when every check passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.arm_parity", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dist", default="dist", help="export folder (default: %(default)s)")
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepproduct"
    parser.add_argument(
        "--cache",
        type=Path,
        default=default_cache,
        help="where the arm64 root and wheels are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/report"),
        help="writes arm_parity.md / .json here (default: %(default)s)",
    )
    parser.add_argument("--mirror", default=MIRROR, help="Debian mirror for debootstrap")
    parser.add_argument(
        "--cpu",
        choices=sorted(EMULATED_CPUS),
        default="cortex-a76",
        help="the arm64 core qemu emulates (default: %(default)s, a common phone big core)",
    )
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)  # in the arm64 root
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        run_inside(args.inside, args.result)
        return 0
    try:
        return _host(args)
    except ArmParityError as e:
        print(f"arm-parity: error: {e}", file=sys.stderr)
        return 2


def _host(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from export.golden import write_golden
    from mobile_sdk.atomic_file import write_text_atomic

    dist = Path(args.dist)
    models = {"int8": dist / "model.tflite", "fp32": dist / "model_fp32.tflite"}
    for path in models.values():
        if not path.is_file():
            raise ArmParityError(f"{path} not found: run 'make export' first (or pass --dist)")
    if platform.machine() != "x86_64":
        raise ArmParityError(f"this compares arm64 with x86_64; this host is {platform.machine()}")
    if os.geteuid() != 0:
        raise ArmParityError("needs root (apt-get, debootstrap, mount, chroot): run it with sudo")
    log = args.cache / "logs" / "arm_parity.log"
    steps = ["tools", "binfmt", "arm64 root", "wheels", "arm64 venv", "golden bundles"]
    steps += [f"arm64 run: {name}" for name in models] + ["compare"]
    bar = tqdm(
        total=len(steps),
        desc="arm-parity",
        unit="step",
        bar_format="{desc}: {n}/{total} steps {bar} [{elapsed}]",
    )

    def step(i: int) -> None:
        bar.set_description_str(f"arm-parity: {steps[i]}")

    step(0)
    ensure_tools(log)
    bar.update()
    step(1)
    ensure_binfmt(log)
    bar.update()
    step(2)
    root = ensure_root(args.cache, args.mirror, log)
    bar.update()
    guest = subprocess.run(
        chroot(
            root,
            "/usr/bin/python3",
            "-c",
            "import platform; print(platform.machine(), platform.python_version())",
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if guest.returncode != 0:
        raise ArmParityError(f"python3 does not run in {root}: {guest.stderr.strip()[-300:]}")
    guest_machine, guest_python = guest.stdout.split()
    step(3)
    wheels = ensure_wheels(args.cache, ".".join(guest_python.split(".")[:2]), log)
    bar.update()
    step(4)
    with proc_mounted(root):
        ensure_venv(root, wheels, log)
    bar.update()
    step(5)
    copy_sources(root)
    work = root / INSIDE.relative_to("/") / "work"
    shutil.rmtree(work, ignore_errors=True)
    bundles = {name: write_golden(model, work / f"golden-{name}") for name, model in models.items()}
    bar.update()
    cpu_env = emulate_cpu(root, args.cpu)
    arm = {}
    for i, (name, bundle) in enumerate(bundles.items()):
        step(6 + i)
        inside_result = INSIDE / "work" / f"arm-{name}.json"
        _run(
            chroot(
                root,
                f"{VENV}/bin/python",
                "-m",
                "benchmarks.arm_parity",
                "--inside",
                str(INSIDE / "work" / bundle.name),
                "--result",
                str(inside_result),
                env=[f"PYTHONPATH={INSIDE / 'src'}", *cpu_env],
            ),
            log,
            f"the arm64 run on {models[name].name}",
        )
        arm[name] = json.loads((root / inside_result.relative_to("/")).read_text())
        bar.update()
    step(len(steps) - 1)
    results = []
    for name, bundle in bundles.items():
        r = compare(bundle, arm[name], name)
        r["model"] = str(models[name])
        r["sha256"] = _digest(models[name])
        results.append(r)
    bar.update()
    bar.close()
    setup = {
        "guest": guest_machine,
        "cpu": args.cpu,
        "guest_python": guest_python,
        "requirements": requirements(),
        "root": str(root),
        "guest_versions": {k: v["versions"] for k, v in arm.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        args.out / "arm_parity.json",
        json.dumps({"setup": setup, "results": results}, indent=2) + "\n",
    )
    text = markdown(results, arm, setup)
    write_text_atomic(args.out / "arm_parity.md", text)
    print(text)
    failed = [
        f"{Path(r['model']).name}: {c['check']}"
        for r in results
        for c in r["checks"]
        if not c["ok"]
    ]
    n = sum(len(r["checks"]) for r in results)
    print(
        f"arm-parity: {n - len(failed)}/{n} checks passed on {guest_machine} "
        f"-> {args.out / 'arm_parity.md'}" + (f"; FAILED: {'; '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
