"""``deepproduct`` command line: one entry point, one subcommand per job.

The runtime's own commands (``index``, ``search``, ``evaluate``; see
``mobile_sdk.commands``) are always there. Every other command is registered by the
package that implements it, through the ``deepproduct.commands`` entry-point group in
``setup.py``::

    "deepproduct.commands": ["train = trainer.commands:TRAIN [train]", ...]

Each entry point names a :class:`mobile_sdk.command.Command`. The module holding it
must import cheaply (no torch at import time); the command imports its heavy modules
when it runs. A command whose :attr:`~mobile_sdk.command.Command.requires` modules are
not installed still appears, and running it (``--help`` included) ends in one line
naming the extra to install. So the runtime never imports the layers above it, and a
plain ``pip install .`` gives a working ``deepproduct index`` / ``deepproduct search``.

A new command (say ``serve``): write a module-level ``Command`` in your package, add
``"serve = yourpackage.commands:SERVE [extra]"`` to the group in ``setup.py``, and
reinstall (``pip install -e .``) so the entry point is recorded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

from mobile_sdk.command import Command, MissingExtraError, missing_extra
from mobile_sdk.errors import run_reporting_errors

COMMAND_GROUP = "deepproduct.commands"


def _unavailable(name: str, help: str, extra: str, error: MissingExtraError) -> Command:
    """A stand-in for a command that cannot run here: any use prints ``error``."""

    def run(args: argparse.Namespace) -> int:
        raise error

    return Command(name, f"{help} [needs: pip install 'deepproduct[{extra}]']", _no_arguments, run)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that cannot run here takes any arguments (and ``--help``) unparsed."""


def _plugin_commands() -> list[Command]:
    """Commands registered in the ``deepproduct.commands`` entry-point group, by name."""
    commands = []
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        commands.append(_load(ep))
    return commands


def _load(ep: EntryPoint) -> Command:
    extra = ep.extras[0] if ep.extras else None
    try:
        command = ep.load()
    except ModuleNotFoundError as e:
        if extra is None:
            raise
        error = missing_extra(extra, [e.name or ep.module])
        return _unavailable(ep.name, f"the '{extra}' extra's command", extra, error)
    if not isinstance(command, Command) or command.name != ep.name:
        raise TypeError(f"entry point {ep.name} = {ep.value} is not a Command named {ep.name!r}")
    missing = command.missing()
    if missing:
        extra = command.extra or extra or "?"
        error = missing_extra(extra, missing)
        return _unavailable(command.name, command.help, extra, error)
    return command


def _runtime_commands() -> list[Command]:
    from mobile_sdk.commands import RUNTIME_COMMANDS

    return list(RUNTIME_COMMANDS)


def all_commands() -> list[Command]:
    """The runtime's commands, then the registered ones (a registered name may not repeat)."""
    commands = _runtime_commands()
    taken = {c.name for c in commands}
    for command in _plugin_commands():
        if command.name in taken:
            raise TypeError(f"deepproduct command {command.name!r} is registered twice")
        taken.add(command.name)
        commands.append(command)
    return commands


def build_parser(
    commands: Sequence[Command] | None = None, selected: str | None = None
) -> argparse.ArgumentParser:
    """The ``deepproduct`` argument parser over ``commands`` (default: :func:`all_commands`).

    Args:
        commands: the subcommands.
        selected: if given, only this command's options are added (the others are
            listed by name and help line): building a parser may import its module.
    """
    parser = argparse.ArgumentParser(
        prog="deepproduct", description="DeepProduct: mobile product search."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in all_commands() if commands is None else commands:
        available = command.add_arguments is not _no_arguments
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            add_help=available,
        )
        if selected is None or command.name == selected:
            command.add_arguments(p)
        p.set_defaults(func=command.run, available=available)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with a clear message).

    A runtime command (``index``, ``search``, ``evaluate``) loads no registered command,
    so it imports nothing beyond the runtime.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    name = next((a for a in argv if not a.startswith("-")), None)
    runtime = [c for c in _runtime_commands() if c.name == name]
    parser = build_parser(runtime or all_commands(), selected=name)
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.available:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return run_reporting_errors(lambda: args.func(args), f"deepproduct {args.command}")


if __name__ == "__main__":
    sys.exit(main())
