"""``python -m benchmarks.arm_parity``: the steps in order (or, with ``--inside``, the
guest's run)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.arm_parity.comparison import compare
from benchmarks.arm_parity.guest import run_inside
from benchmarks.arm_parity.host import (
    EMULATED_CPUS,
    INSIDE,
    MIRROR,
    VENV,
    ArmParityError,
    chroot,
    copy_sources,
    digest,
    emulate_cpu,
    ensure_binfmt,
    ensure_root,
    ensure_tools,
    ensure_venv,
    ensure_wheels,
    proc_mounted,
    requirements,
    run_logged,
)
from benchmarks.arm_parity.report import markdown


def main(argv: Sequence[str] | None = None) -> int:
    """``make arm-parity``; returns 0 when every check passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.arm_parity",
        description="ARM64 parity: the Python runtime on arm64 (emulated) reproduces the x86 "
        "results.",
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
        run_logged(
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
        r["sha256"] = digest(models[name])
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
