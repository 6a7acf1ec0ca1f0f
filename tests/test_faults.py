"""Faults: kills during writes, interrupted exports, unwritable and full output folders.

Every output is written through ``mobile_sdk.atomic_file``: a kill or a failed
write leaves the previous file whole (and loadable) under its name, and the command
line reports an unwritable or full folder in one line with exit status 2.

Running as root, ``chmod 0o555`` does not stop writes; the read-only cases then skip
and the "under a regular file" and "disk full" cases cover the same code paths.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _bad_inputs import make_dataset, tiny_model, write

from mobile_sdk.atomic_file import OutputError
from mobile_sdk.cli import main
from mobile_sdk.index import ProductIndex

PRODUCTS = {"red": (250, 20, 20), "green": (20, 250, 20), "blue": (20, 20, 250)}


def cli(*args) -> tuple[int, str]:
    """Run ``deepproduct`` in-process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, err.getvalue()


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _killed_mid_write(script: str, *args: str) -> None:
    """Run ``script``; once it prints "writing", SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "writing", f"the writer did not start: {line!r}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# ---------------------------------------------------------------- kills


SLOW_WRITER = """
import sys, time
from mobile_sdk.atomic_file import atomic_path

with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as f:
    for i in range(200):  # 200 MB at most: it is killed long before
        f.write(bytes(1 << 20))
        f.flush()
        if i == 4:
            print("writing", flush=True)
        time.sleep(0.05)
"""


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path):
    torch = pytest.importorskip("torch", reason="the trainer needs torch (the train extra)")
    from trainer.checkpoint import STATE_FILE, load_training_state, save_atomic
    from trainer.model import CHECKPOINT_FORMAT

    run = tmp_path / "run"
    save_atomic({"format": CHECKPOINT_FORMAT, "epoch": 3, "w": torch.arange(5)}, run / STATE_FILE)
    old = (run / STATE_FILE).read_bytes()
    _killed_mid_write(SLOW_WRITER, str(run / STATE_FILE))
    (partial,) = run.glob(f".{STATE_FILE}.*.tmp")  # the kill left its temporary file...
    assert partial.stat().st_size >= 5 << 20
    assert (run / STATE_FILE).read_bytes() == old  # ...and the checkpoint as it was
    state = load_training_state(run)
    assert state["epoch"] == 3 and torch.equal(state["w"], torch.arange(5))


SLOW_INDEX_SAVE = """
import sys, time
import numpy as np
from mobile_sdk.index import ProductIndex

class SlowFile:
    def __init__(self, f):
        self.f, self.calls = f, 0
    def write(self, data):
        self.f.write(data)
        self.calls += 1
        if self.calls == 3:  # header, id lengths and ids written; vectors next
            self.f.flush()
            print("writing", flush=True)
            time.sleep(60)

real = ProductIndex._write
ProductIndex._write = lambda self, f: real(self, SlowFile(f))
rng = np.random.default_rng(1)
vectors = rng.normal(size=(5000, 64)).astype(np.float32)
ProductIndex.from_arrays([f"n{i}" for i in range(5000)], vectors, "1" * 64, "int8").save(
    sys.argv[1]
)
"""


def test_sigkill_during_an_index_save_keeps_the_previous_index(tmp_path):
    path = tmp_path / "catalog.dpi"
    rng = np.random.default_rng(0)
    old = ProductIndex.from_arrays(
        ["a", "b", "c"], rng.normal(size=(3, 64)).astype(np.float32), "1" * 64, "int8"
    )
    old.save(path)
    _killed_mid_write(SLOW_INDEX_SAVE, str(path))
    assert len(list(tmp_path.glob(".catalog.dpi.*.tmp"))) == 1
    loaded = ProductIndex.load(path, "1" * 64)
    assert loaded.row_ids == ["a", "b", "c"]
    assert np.array_equal(loaded.vectors, old.vectors)


# ---------------------------------------------------------------- export


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from _export_helpers import require_export_extra, small_export

    require_export_extra()
    return small_export(tmp_path_factory)


@pytest.mark.slow
def test_export_interrupted_mid_conversion_leaves_dist_byte_identical(small, tmp_path, monkeypatch):
    import export.pipeline

    dist = tmp_path / "dist"
    shutil.copytree(small.dist, dist)
    before = {p.name: p.read_bytes() for p in dist.iterdir()}
    staging = set(Path(tempfile.gettempdir()).glob("deepproduct-export-*"))

    def interrupted(*args, **kwargs):  # Ctrl-C after the fp32 model is staged
        raise KeyboardInterrupt

    monkeypatch.setattr(export.pipeline, "quantize_fp16", interrupted)
    status, err = cli(
        "export",
        "--checkpoint",
        small.checkpoint,
        "--calib",
        small.data,
        "--out",
        dist,
        "--calib-images",
        "2",
        "--quiet",
    )
    assert status == 130 and err.strip() == "deepproduct export: interrupted"
    assert {p.name: p.read_bytes() for p in dist.iterdir()} == before
    assert set(Path(tempfile.gettempdir()).glob("deepproduct-export-*")) == staging


def test_disk_full_while_installing_an_export_leaves_every_file_whole(tmp_path, monkeypatch):
    from _export_helpers import require_export_extra

    require_export_extra()
    from export.pipeline import FILES, REPORT_JSON, _install

    staged, dist = tmp_path / "staged", tmp_path / "dist"
    for name in FILES:
        write(staged / name, b"new " + name.encode())
        write(dist / name, b"old " + name.encode())
    write(dist / REPORT_JSON, "{}")
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputError, match=r"model_fp32\.tflite: write failed \(disk full\)"):
        _install(staged, dist)
    contents = {p.name: p.read_bytes() for p in dist.iterdir()}
    names = list(FILES)
    assert contents == {
        **{n: b"new " + n.encode() for n in names[:2]},
        **{n: b"old " + n.encode() for n in names[2:]},
    }  # the old report is gone: it must not describe a half-new set of models
    assert not temp_files(tmp_path)


# ---------------------------------------------------------------- unwritable outputs


@pytest.fixture
def env(tmp_path) -> dict[str, Path]:
    data = make_dataset(tmp_path / "data", PRODUCTS)
    return {"data": data, "model": write(tmp_path / "model.tflite", tiny_model())}


def unwritable(kind: str, tmp_path: Path, monkeypatch) -> Path:
    """An output folder that cannot take files, in one of three ways."""
    if kind == "under a regular file":
        write(tmp_path / "a file", "x")
        return tmp_path / "a file" / "out"
    if kind == "read-only":
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except PermissionError:
            return folder / "out"
        folder.chmod(0o755)
        pytest.skip(
            "running as root: chmod 0o555 does not stop writes; to run this case as root, "
            "drop the capability: setpriv --bounding-set -dac_override,-dac_read_search "
            "--inh-caps -dac_override,-dac_read_search .venv/bin/python -m pytest ..."
        )
    folder = tmp_path / "out"  # disk full: the data does not reach the disk
    folder.mkdir()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    return folder


KINDS = ["read-only", "under a regular file", "disk full"]
EXPECTED = {
    "read-only": "cannot write here (Permission denied)",
    "under a regular file": "cannot write here",
    "disk full": "write failed (disk full)",
}


def _one_line_error(status: int, err: str, command: str, kind: str) -> None:
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"deepproduct {command}: error: "), err
    assert EXPECTED[kind] in lines[0], err


@pytest.mark.parametrize("kind", KINDS)
def test_index_into_an_unwritable_folder(kind, env, tmp_path, monkeypatch):
    out = unwritable(kind, tmp_path, monkeypatch)
    status, err = cli(
        "index",
        "--model",
        env["model"],
        "--catalog",
        env["data"],
        "--out",
        out / "c.dpi",
        "--quiet",
    )
    _one_line_error(status, err, "index", kind)
    assert not (out / "c.dpi").exists() and not temp_files(tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_index_save_into_an_unwritable_folder(kind, tmp_path, monkeypatch):
    out = unwritable(kind, tmp_path, monkeypatch)
    index = ProductIndex.from_arrays(["a"], np.ones((1, 4), np.float32), "2" * 64)
    with pytest.raises(OutputError, match=str(out / "c.dpi")):
        index.save(out / "c.dpi")
    assert not temp_files(tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_json_into_an_unwritable_folder(kind, env, tmp_path, monkeypatch):
    out = unwritable(kind, tmp_path, monkeypatch)
    status, err = cli(
        "evaluate",
        "--model",
        env["model"],
        "--data",
        env["data"],
        "--json",
        out / "r.json",
        "--quiet",
    )
    _one_line_error(status, err, "evaluate", kind)
    assert not (out / "r.json").exists() and not temp_files(tmp_path)


@pytest.mark.parametrize("kind", KINDS[:2])  # disk full: test_disk_full_while_installing...
def test_export_into_an_unwritable_folder_fails_before_any_work(kind, tmp_path, monkeypatch):
    from _export_helpers import require_export_extra

    require_export_extra()
    out = unwritable(kind, tmp_path, monkeypatch)
    # the checkpoint does not exist: the output folder is checked first, in a second
    status, err = cli(
        "export", "--checkpoint", tmp_path / "none.pt", "--calib", tmp_path, "--out", out
    )
    _one_line_error(status, err, "export", kind)
    assert not temp_files(tmp_path)


@pytest.mark.parametrize("kind", KINDS[:2])  # disk full: the next test
def test_train_into_an_unwritable_folder_fails_before_any_work(kind, env, tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the trainer needs torch (the train extra)")
    out = unwritable(kind, tmp_path, monkeypatch)
    status, err = cli("train", "--data", env["data"], "--out", out / "run", "--quiet")
    _one_line_error(status, err, "train", kind)
    assert not (out / "run").exists()


FILE_SIZE_LIMIT = """
import resource, signal, sys
# Writes past 1 MB fail with EFBIG, as on a full disk (SIGXFSZ would kill instead).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
from mobile_sdk.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_train_checkpoint_write_failure_is_one_line_and_leaves_no_checkpoint(tmp_path):
    pytest.importorskip("torch", reason="the trainer needs torch (the train extra)")
    from trainer.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "data", n_products=3, photos_per_product=2, progress=False)
    run = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--quiet",
        "--epochs",
        "1",
        "--batches-per-epoch",
        "1",
        "--products-per-batch",
        "2",
        "--trainable-blocks",
        "1",
        "--head-init",
        "centered",
        "--multitask",
        "none",
        "--no-catalog-memory",
        "--catalog-only",
        "skip",
    ]
    r = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMIT, *args], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    checkpoint = run / "checkpoint.pt"
    assert last == f"deepproduct train: error: {checkpoint}: write failed (File too large)"
    assert not checkpoint.exists() and not temp_files(tmp_path)
