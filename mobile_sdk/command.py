"""What a ``deepproduct`` command is (:class:`Command`), for the packages that register one.

See ``mobile_sdk.cli`` for how commands are found. Kept apart from the ``cli`` module,
which also runs as ``python -m mobile_sdk.cli`` (as ``__main__``, a second copy).
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mobile_sdk.errors import DeepProductError


class MissingExtraError(DeepProductError):
    """A command needs an optional dependency (a pip extra) that is not installed."""


@dataclass(frozen=True)
class Command:
    """One ``deepproduct`` subcommand.

    Attributes:
        name: the subcommand, e.g. ``"train"``.
        help: one line for ``deepproduct --help``.
        add_arguments: adds the command's options to its (sub)parser.
        run: runs the parsed command; returns the exit status. Raises a
            :class:`DeepProductError` for bad input (printed in one line, status 2).
        description: longer text for ``deepproduct NAME --help`` (default: ``help``).
        extra: the pip extra that provides ``requires`` (e.g. ``"train"``).
        requires: top-level modules the command needs beyond the runtime; checked
            (without importing them) before the command is offered.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None
    extra: str | None = None
    requires: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """The :attr:`requires` modules that are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


def missing_extra(extra: str, missing: Sequence[str]) -> MissingExtraError:
    """The one-line error for a command whose extra is not installed."""
    what = f"{missing[0]} is missing" if len(missing) == 1 else f"{', '.join(missing)} missing"
    return MissingExtraError(
        f"this command needs the '{extra}' extra ({what}): pip install 'deepproduct[{extra}]'"
    )


def require_modules(extra: str, modules: Sequence[str]) -> None:
    """Raise :class:`MissingExtraError` unless every module in ``modules`` is installed.

    Uses ``find_spec``, not ``import``: nothing is imported (some tools print on import).
    """
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise missing_extra(extra, missing)
