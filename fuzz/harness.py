"""What the fuzz targets share: seeding a corpus folder and starting libFuzzer.

Each target is a script, ``python fuzz/fuzz_<name>.py [libFuzzer flags] [CORPUS_DIR]``:
the seeds are generated in code and written into the corpus folder (a scratch one
when none is given), so nothing binary is committed. Any exception other than the
documented ones escapes the target and libFuzzer reports a crash, writing the input
to ``<artifact_prefix>crash-<sha1>``.

One more flag is ours: ``-restart_every=S`` runs the ``-max_total_time`` as a series
of fresh processes of at most S seconds on the same corpus. Under libFuzzer the image
target's resident memory creeps up by a few KB per run (native memory, not Python
objects; replaying the same inputs in a plain loop stays flat), which would trip
``-rss_limit_mb`` in a long run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
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


def _flag(argv: list[str], name: str) -> int | None:
    """The integer value of ``-name=N`` in ``argv``, or None."""
    for arg in argv:
        if arg.startswith(f"-{name}="):
            return int(arg.split("=", 1)[1])
    return None


def _run_in_pieces(argv: list[str], every: int) -> None:
    """Run ``-max_total_time`` as fresh processes of ``every`` seconds; exit like libFuzzer."""
    total = _flag(argv, "max_total_time")
    if not total:
        sys.exit("-restart_every needs -max_total_time")
    flags = [a for a in argv[1:] if not a.startswith(("-restart_every=", "-max_total_time="))]
    runs, start = 0, time.monotonic()
    while (left := total - int(time.monotonic() - start)) > 0:
        piece = subprocess.Popen(
            [sys.executable, argv[0], f"-max_total_time={min(every, left)}", *flags],
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        for line in piece.stderr:
            sys.stderr.write(line)
            done = re.match(r"Done (\d+) runs", line)
            runs += int(done.group(1)) if done else 0
        if piece.wait() != 0:
            sys.exit(piece.returncode)
    print(f"Done {runs} runs in {int(time.monotonic() - start)} second(s)", file=sys.stderr)
    sys.exit(0)


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
    every = _flag(argv, "restart_every")
    if every:
        _run_in_pieces(argv, every)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
