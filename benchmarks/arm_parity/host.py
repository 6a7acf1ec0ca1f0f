"""Host side of the ARM parity check: tools, binfmt, the arm64 root, its wheels and venv,
and the sources copied into it (steps 1-3 of the package docstring)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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


INSIDE = Path("/opt/deepproduct")  # in the arm64 root: src/, wheels/, work/


VENV = "/opt/venv"


_ROOT_MARKER = ".deepproduct-root-complete"


_VENV_MARKER = ".deepproduct-requirements"


class ArmParityError(Exception):
    """A setup step failed (tools, root, wheels, chroot run); the message says which."""


def run_logged(cmd: Sequence[str], log: Path, what: str, **kwargs: Any) -> None:
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
        run_logged(install, log, "apt-get install", env=env)
    except ArmParityError:  # stale package lists
        run_logged(["apt-get", "update", "-q"], log, "apt-get update", env=env)
        run_logged(install, log, "apt-get install", env=env)


def ensure_binfmt(log: Path) -> None:
    """Register qemu-aarch64 with the kernel's binfmt_misc (with the F flag, so that
    it also works inside the chroot)."""
    if not (BINFMT / "status").exists():
        run_logged(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], log, "mount binfmt_misc"
        )
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
    run_logged(
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
    run_logged(
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
    run_logged(
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
    run_logged(chroot(root, "/usr/bin/python3", "-m", "venv", VENV), log, "python3 -m venv (arm64)")
    run_logged(
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
    """This checkout's ``mobile_sdk`` and this package into the root (fresh each run)."""
    repo = Path(__file__).resolve().parents[2]
    src = root / INSIDE.relative_to("/") / "src"
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(repo / "mobile_sdk", src / "mobile_sdk", ignore=ignore)
    package = Path("benchmarks") / "arm_parity"
    shutil.copytree(repo / package, src / package, ignore=ignore)
    shutil.copy2(repo / "benchmarks" / "__init__.py", src / "benchmarks" / "__init__.py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
