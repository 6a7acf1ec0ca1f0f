"""Write files atomically: to a temporary file beside the target, then rename.

A crash, a kill or a full disk leaves either the old file or the new one, never
a half-written file under the target name. :func:`replace_dir` does the same for a
folder written in full beside its target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mobile_sdk.errors import DeepProductError


class OutputError(DeepProductError, OSError):
    """An output file could not be written (read-only folder, disk full, ...)."""


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it over ``target`` on success.

    On any exception the temporary file is removed and ``target`` is untouched.

    Raises:
        OutputError: the folder cannot be created or written, the disk is full, or
            ``target`` exists and is not a regular file (a folder, ``/dev/stdout``, a
            device: renaming over it would replace the folder entry, not write to it).
    """
    target = Path(target)
    if os.path.exists(target) and not os.path.isfile(target):
        raise OutputError(f"{target}: cannot write here (exists and is not a regular file)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{target}: cannot write here ({e.strerror or e})") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        reason = "disk full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise OutputError(f"{target}: write failed ({reason})") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def check_writable_dir(folder: str | os.PathLike) -> Path:
    """Check, without creating anything, that files can be written in ``folder``.

    Long jobs (training, export, indexing) call this before they start, so that a
    read-only or misplaced output folder fails at once instead of after the work.
    A folder that does not exist yet passes if its nearest existing parent is a
    writable folder (``atomic_path`` creates it when writing).

    Returns:
        ``folder`` as a ``Path``.

    Raises:
        OutputError: a parent is a regular file, or the folder is not writable.
    """
    folder = Path(folder)
    existing = folder
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        raise OutputError(f"{folder}: cannot write here ({existing} is not a folder)")
    try:
        # An unnamed temporary file (O_TMPFILE on Linux): nothing is left even on a kill.
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise OutputError(f"{folder}: cannot write here ({e.strerror or e})") from None
    return folder


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"))


def replace_dir(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename the finished folder ``tmp`` to ``target``, replacing ``target`` if it exists.

    A folder cannot be renamed over a non-empty one, so the old folder is moved aside
    first (beside ``target``) and removed after: a reader sees the old folder, briefly
    none, then the new one, never a half-written one. ``tmp`` must be in ``target``'s
    folder (same file system).

    Raises:
        OSError: the final rename failed (e.g. another process created ``target`` in
            the meantime); the old folder is removed either way.
    """
    tmp, target = Path(tmp), Path(target)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / target.name)
    try:
        os.rename(tmp, target)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
