"""The ``__main__`` entry of every benchmark script: clear errors, not tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from mobile_sdk.errors import DeepProductError


def run_script(main: Callable[[], int], script: str) -> int:
    """Run a script's ``main`` and return its exit status.

    A :class:`~mobile_sdk.errors.DeepProductError` (a bad dataset, a run folder that
    does not match its settings, a missing tool) is printed as ``<script>: error:
    <message>`` and gives status 2, as the ``deepproduct`` command does; Ctrl-C gives 130.
    Anything else is a bug and keeps its traceback.

    Args:
        main: the script's ``main()``, returning an exit status.
        script: the script's ``__file__``; its name starts the error line.
    """
    name = Path(script).name
    try:
        return main()
    except DeepProductError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
