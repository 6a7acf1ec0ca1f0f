"""A plain ``pip install .`` (no extras) gives a working runtime, without torch.

The package is built into a wheel and installed with pip into a new virtual environment
that has no torch. So that the test is fast and works offline, the runtime's
dependencies (numpy, Pillow, LiteRT, tqdm and what they need) are not downloaded: the
new environment sees links to this environment's copies of exactly those distributions,
resolved from the package's own ``install_requires``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from importlib.metadata import distribution
from pathlib import Path

import pytest
from _export_helpers import require_export_extra, small_export

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("mobile_sdk", "trainer", "export", "benchmarks")
ABOVE_THE_RUNTIME = ("torch", "trainer", "export", "benchmarks", "pymilvus", "fastapi", "uvicorn")


def _runtime_distributions() -> set[str]:
    """Names of the distributions a plain install pulls in (no extras), recursively."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = ["deepproduct"]
    while todo:
        dist = distribution(todo.pop())
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            name = req.name.lower().replace("_", "-")
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _link_distributions(names: set[str], folder: Path) -> None:
    """Links in ``folder`` to the installed files (top-level entries) of ``names``."""
    folder.mkdir()
    for name in names:
        dist = distribution(name)
        site = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)


def _plain_install(root: Path) -> Path:
    """A new venv with ``deepproduct`` installed by pip without extras; its bin folder."""
    src = root / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, src],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    _link_distributions(_runtime_distributions(), root / "runtime-deps")
    (site / "runtime_deps.pth").write_text(f"{root / 'runtime-deps'}\n")
    wheel = next(wheels.glob("deepproduct-*.whl"))
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env_dir / "bin"


def _run(args: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_plain_install_indexes_and_searches_without_torch(tmp_path_factory, tmp_path):
    require_export_extra()  # the model to search with comes from the shared small export
    small = small_export(tmp_path_factory)
    bin_dir = _plain_install(tmp_path)
    model, index = small.dist / "model.tflite", tmp_path / "catalog.dpi"
    photo = sorted((small.data / "photos").glob("*/*"))[0]

    r = _run([bin_dir / "python", "-c", "import torch"], tmp_path)
    assert r.returncode != 0 and "No module named 'torch'" in r.stderr
    r = _run(
        [bin_dir / "python", "-c", "from mobile_sdk import Embedder, ProductIndex, ProductSearch"],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr

    deepproduct = bin_dir / "deepproduct"
    args = ["index", "--model", model, "--catalog", small.data, "--out", index, "--quiet"]
    r = _run([deepproduct, *args], tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"indexed 4 products (4 images x 2 views, int8) -> {index}" in r.stdout
    r = _run([deepproduct, "search", "--model", model, "--index", index, photo, "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)[str(photo)]
    assert len(hits) == 4 and hits[0]["product_id"] == photo.parent.name

    r = _run([deepproduct, "train", "--help"], tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        "deepproduct train: error: this command needs the 'train' extra (torch is missing): "
        "pip install 'deepproduct[train]'\n"
    )
    r = _run([deepproduct, "--help"], tmp_path)
    help_text = " ".join(r.stdout.split())  # argparse wraps lines
    assert r.returncode == 0 and "[needs: pip install 'deepproduct[train]']" in help_text
    assert "[needs: pip install 'deepproduct[server]']" in help_text
    r = _run([deepproduct, "publish", "--index", index], tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(
        "deepproduct publish: error: this command needs the 'server' extra (pymilvus"
    )


@pytest.mark.slow
def test_runtime_commands_import_nothing_above_the_runtime(tmp_path_factory, tmp_path):
    # Here torch is installed: the runtime commands must still not import it (nor the
    # trainer, export or benchmarks packages).
    require_export_extra()
    small = small_export(tmp_path_factory)
    model, index = small.dist / "model.tflite", tmp_path / "catalog.dpi"
    photo = sorted((small.data / "photos").glob("*/*"))[0]
    for args in (
        ["index", "--model", model, "--catalog", small.data, "--out", index, "--quiet"],
        ["search", "--model", model, "--index", index, photo],
        ["evaluate", "--model", model, "--data", small.data, "--quiet"],
    ):
        code = (
            "import sys\nfrom mobile_sdk.cli import main\n"
            f"status = main({[str(a) for a in args]!r})\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            f"{set(ABOVE_THE_RUNTIME)!r}))\n"
            "sys.exit(status)\n"
        )
        r = _run([sys.executable, "-c", code], REPO)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == "[]", (args[0], r.stdout)
