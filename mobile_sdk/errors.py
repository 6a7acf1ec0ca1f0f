"""Exception types raised by DeepProduct for bad input.

Every error names the file (or folder) it is about and what is wrong with it,
so that a user never has to read a traceback from inside a library.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class DeepProductError(Exception):
    """Base class of every error DeepProduct raises on purpose."""


class DatasetError(DeepProductError, ValueError):
    """A dataset folder does not follow the standard layout; the message lists every problem."""


def run_reporting_errors(main: Callable[[], int], prog: str) -> int:
    """Run a command's ``main`` and return its exit status.

    The one place where a :class:`DeepProductError` reaches the user, for the
    ``deepproduct`` command and the benchmark scripts alike: it is printed as
    ``<prog>: error: <message>`` on stderr and gives status 2; Ctrl-C gives 130. Anything
    else is a bug and keeps its traceback.

    Args:
        main: runs the command, returning an exit status.
        prog: what the error line starts with, e.g. ``deepproduct train`` or ``ablation.py``.
    """
    try:
        return main()
    except DeepProductError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
