"""The deepproduct command registry: runtime commands built in, others from entry points."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pytest

import mobile_sdk.cli as cli
from mobile_sdk.command import Command


def _hello_arguments(p):
    p.add_argument("--who", required=True)


def _hello_run(args):
    print(f"hello {args.who}")
    return 0


@pytest.fixture
def plugins(monkeypatch):
    """Register commands of a fake package ``fakepkg`` (a dict name -> Command)."""
    module = types.ModuleType("fakepkg_commands")
    monkeypatch.setitem(sys.modules, "fakepkg_commands", module)
    registered: list[EntryPoint] = []

    def add(name: str, command: Command | None, extra: str = "") -> None:
        attr = name.replace("-", "_").upper()
        if command is not None:
            setattr(module, attr, command)
        target = f"fakepkg_commands:{attr}" if command else "no_such_pkg.commands:X"
        value = f"{target} [{extra}]" if extra else target
        registered.append(EntryPoint(name, value, cli.COMMAND_GROUP))

    monkeypatch.setattr(cli, "entry_points", lambda group: list(registered))
    return add


def test_a_registered_command_runs(plugins, capsys):
    plugins("hello", Command("hello", "say hello", _hello_arguments, _hello_run))
    assert cli.main(["hello", "--who", "shop"]) == 0
    assert capsys.readouterr().out == "hello shop\n"


def test_a_command_missing_its_extra_says_so_in_one_line(plugins, capsys):
    needs = Command(
        "serve",
        "serve searches over HTTP",
        _hello_arguments,
        _hello_run,
        extra="serve",
        requires=("no_such_module_xyz",),
    )
    plugins("serve", needs, "serve")
    for argv in (["serve", "--help"], ["serve", "--who", "x"], ["serve"]):
        assert cli.main(argv) == 2
        assert capsys.readouterr().err == (
            "deepproduct serve: error: this command needs the 'serve' extra "
            "(no_such_module_xyz is missing): pip install 'deepproduct[serve]'\n"
        )
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "serve searches over HTTP [needs: pip install 'deepproduct[serve]']" in help_text


def test_an_entry_point_whose_module_is_missing_names_its_extra(plugins, capsys):
    plugins("publish", None, "milvus")
    assert cli.main(["publish", "--anything"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepproduct publish: error: this command needs the 'milvus' extra")
    assert err.count("\n") == 1


def test_runtime_commands_do_not_load_registered_ones(plugins, monkeypatch):
    def fail(group):
        raise AssertionError("entry points read for a runtime command")

    monkeypatch.setattr(cli, "entry_points", fail)
    with pytest.raises(SystemExit):
        cli.main(["search", "--help"])


def test_a_name_registered_twice_is_refused(plugins):
    plugins("index", Command("index", "shadow", _hello_arguments, _hello_run))
    with pytest.raises(TypeError, match="registered twice"):
        cli.all_commands()


def test_the_installed_package_registers_its_commands():
    names = [c.name for c in cli.all_commands()]
    assert names[:4] == ["evaluate", "index", "search", "approx-index"]
    assert {"train", "make-dataset", "split", "export", "bench"} <= set(names)
