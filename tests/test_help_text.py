"""Every command's --help names real things: no Python types, no SPEC the user does not have."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from selector.cli import app

ROOT = Path(__file__).resolve().parents[1]
ENV = {"TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}


def commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and group of the app (those built on first use too), as the argument
    list that reaches it."""
    root = typer.main.get_command(app)
    todo: list[tuple[list[str], Any]] = [([], root)]
    while todo:
        path, cmd = todo.pop(0)
        yield path, cmd
        if hasattr(cmd, "list_commands"):  # a group (typer vendors its own click)
            ctx = typer.Context(cmd)
            todo += [([*path, n], cmd.get_command(ctx, n)) for n in cmd.list_commands(ctx)]


ALL = list(commands())


def render_help(args: list[str], width: int) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env=ENV, terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_is_reached() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"recommend", "catalog list", "catalog gpus", "smoke", "fetch", "verify"} <= names


@pytest.mark.parametrize("args", [path for path, _ in ALL], ids=lambda p: " ".join(p) or "root")
@pytest.mark.parametrize("width", [80, 100])
def test_help_has_no_python_types_and_no_spec(args: list[str], width: int) -> None:
    text = render_help(args, width)
    for bad in ("<bool>", "list[", "<list", "SPEC §", "SPEC"):
        assert bad not in text, f"`selector {' '.join(args)} --help` shows {bad!r}:\n{text}"


@pytest.mark.parametrize("args", [path for path, _ in ALL], ids=lambda p: " ".join(p) or "root")
def test_help_prints_each_command_text_whole(args: list[str]) -> None:
    """A `[hardware]` in a docstring is text, not Rich markup to be swallowed."""
    cmd = dict((tuple(p), c) for p, c in ALL)[tuple(args)]
    first = inspect.cleandoc(cmd.help or "").split("\n\n")[0].replace("\n", " ")
    text = " ".join(render_help(args, 200).split())
    assert " ".join(first.split()) in text


def test_repeatable_and_flag_options_show_a_name_not_a_type() -> None:
    text = render_help(["recommend"], 120)
    line = next(x for x in text.splitlines() if "--catalog" in x)
    assert "PATH" in line
    line = next(x for x in text.splitlines() if "--no-smoke" in x)
    assert "<" not in line


def test_plain_options_show_a_value_name_not_a_python_type() -> None:
    """`selector smoke` declares no metavars: its options still read TEXT, N, NUMBER (ranges
    stay, `[x>=64]`), and a choice keeps its values."""
    text = render_help(["smoke"], 120)
    lines = text.splitlines()
    for option, name in (("--endpoint", "TEXT"), ("--n-ctx", "N"), ("--temperature", "NUMBER")):
        line = next(x for x in lines if x.startswith(f"│ {option} "))
        assert name in line and not any(t in line for t in ("<str", "<int", "<float")), line
    assert "<table|json>" in next(x for x in lines if x.startswith("│ --format "))


def test_docs_and_schema_never_send_the_user_to_the_spec() -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in [ROOT / "README.md"]}
    texts |= {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")}
    offenders = [name for name, text in texts.items() if "SPEC" in text]
    assert offenders == []
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0 and "SPEC" not in result.stdout
