"""Keep converter chatter (C++ logs, progress lines) off the terminal, but not lost.

litert-torch, the MLIR converter and the quantizers print from native code straight
to file descriptors 1 and 2, which Python's ``redirect_stdout`` cannot catch. The
export captures both descriptors in a temporary file while a tool runs and puts the
tail of that log into the error message when the tool fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

from export.errors import ConversionError


@contextlib.contextmanager
def captured_native_output(what: str) -> Iterator[None]:
    """Run the block with fds 1 and 2 redirected to a temporary log.

    Args:
        what: names the step and its output file, for the error message.

    Raises:
        ConversionError: the block raised anything but a DeepProductError; the
            message says ``what`` failed, the exception and the last log lines.
    """
    from mobile_sdk.errors import DeepProductError

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as log, open(os.dup(log.fileno()), "w") as text:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failure: BaseException | None = None
        try:
            # Python-level writes too, where sys.stdout is not fd 1 (pytest, notebooks)
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield
        except DeepProductError:
            raise
        except Exception as e:  # noqa: BLE001 - any converter failure becomes one clear error
            failure = e
        finally:
            text.flush()
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        if failure is not None:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip().splitlines()[-8:]
            details = ("\n  " + "\n  ".join(tail)) if tail else ""
            raise ConversionError(
                f"{what} failed: {type(failure).__name__}: {failure}{details}"
            ) from failure
