"""What the fuzz targets share: seeding a corpus folder and starting libFuzzer.

Each target is a script, ``python fuzz/fuzz_<name>.py [libFuzzer flags] [CORPUS_DIR]``:
the seeds are generated in code and written into the corpus folder (a scratch one
when none is given), so nothing binary is committed. Any exception other than the
documented ones escapes the target and libFuzzer reports a crash, writing the input
to ``<artifact_prefix>crash-<sha1>``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris


def _scratch_folder() -> Path:
    """This process's scratch folder (tmpfs when there is one: inputs are written per run).

    libFuzzer ends the process without running Python's exit handlers, so instead of
    cleaning up after itself each run removes the folders of runs that have ended.
    """
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    for old in base.glob("deepproduct-fuzz-[0-9]*"):
        try:
            os.kill(int(old.name.rsplit("-", 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, PermissionError):
            pass
    folder = base / f"deepproduct-fuzz-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return folder


SCRATCH = _scratch_folder()


def scratch_file(suffix: str) -> Path:
    """A file to write each input into, for readers that take a path."""
    return SCRATCH / f"input{suffix}"


def run(test_one_input: Callable[[bytes], None], seeds: Iterable[bytes]) -> None:
    """Seed the corpus folder (the first non-flag argument) and fuzz until libFuzzer stops."""
    argv = list(sys.argv)
    folders = [a for a in argv[1:] if not a.startswith("-")]
    if not folders:
        folders = [str(SCRATCH / "corpus")]
        argv.append(folders[0])
    corpus = Path(folders[0])
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}").write_bytes(seed)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
