"""The command group: help that names real things, and commands imported only when used.

typer 0.29 prints a type column (`<bool>`, `<list[Path]>`, `<str>`) wherever an option has no
`metavar`. selector's own options set one (PATH, N, REQ.toml); `HelpGroup` gives the rest a
name too, so a command defined elsewhere and the `--help` option typer adds read the same:
a flag and `--help` show nothing, a repeatable option its element's name (PATH, TEXT, N).

`LazyCommand`s (smoke, models, fetch) are defined in their own packages and imported only
when run or listed by `--help`: `recommend` and the catalog commands never load the smoke
models or the weights code (bench/startup.py).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from typer.core import TyperGroup

# typer's names for the Python types an option may take, as a user would call them
_NAMES = {"path": "PATH", "str": "TEXT", "int": "N", "float": "NUMBER"}


def _element_name(param: Any, ctx: Any) -> str:
    """`PATH` for a `list[Path]` option: the name of one value, repeated with the option."""
    shown = ""
    display = getattr(param, "display_type", None)  # typer >= 0.2x: `<list[Path]>`
    if display is not None:
        shown = str(display(ctx))
    match = re.search(r"list\[(\w+)\]", shown)
    inner = match.group(1).lower() if match else ""
    return _NAMES.get(inner, str(param.name or "value").upper())


def name_params(command: Any, ctx: Any) -> None:
    """Give every option of `command`, and its `--help`, a name where it has none (idempotent)."""
    _name_options(command, ctx)
    help_option = command.get_help_option(ctx)  # cached by the command: named once
    if help_option is not None and help_option.metavar is None:
        help_option.metavar = ""


def _name_options(command: Any, ctx: Any) -> None:
    for param in getattr(command, "params", []):
        if param.param_type_name != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "multiple", False):
            param.metavar = _element_name(param, ctx)
        else:
            named = _type_name(param, ctx)
            if named:  # a choice keeps typer's `<table|json>`: the values are the help
                param.metavar = named


def _type_name(param: Any, ctx: Any) -> str:
    """TEXT, N, NUMBER or PATH for a plain option from typer's `<str>`, `<int range>`, ...;
    "" for a choice or a type without a plain name."""
    display = getattr(param, "display_type", None)
    shown = str(display(ctx)) if display is not None else ""
    match = re.fullmatch(r"<(\w+)(?: range)?>", shown.strip())
    return _NAMES.get(match.group(1).lower(), "") if match else ""


@dataclass(frozen=True)
class LazyCommand:
    """A command whose function lives in `module`, listed in help after the command `after`."""

    module: str
    function: str
    help: str
    after: str


class HelpGroup(TyperGroup):
    """A command group whose commands' help names values instead of Python types, and which
    builds its `lazy` commands on first use."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}
    _built: ClassVar[dict[str, Any]] = {}

    def wrap(self, func: Callable[..., None]) -> Callable[..., None]:
        """What a lazy command's function is wrapped in (the root turns errors into exits)."""
        return func

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(super().list_commands(ctx))
        for name, spec in self.lazy.items():
            at = names.index(spec.after) + 1 if spec.after in names else len(names)
            names.insert(at, name)
        return names

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = self._build(cmd_name)
        if command is not None and not isinstance(command, HelpGroup):
            name_params(command, ctx)
        return command

    def _build(self, name: str) -> Any:
        if name not in self._built:
            import typer
            import typer.main

            spec = self.lazy[name]
            func = getattr(importlib.import_module(spec.module), spec.function)
            single = typer.Typer(add_completion=False)
            single.command(name, help=spec.help)(self.wrap(func))
            self._built[name] = typer.main.get_command(single)  # one command: that command
        return self._built[name]

    def get_help_option(self, ctx: Any) -> Any:
        _name_options(self, ctx)  # the group's own options (`--version`)
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option
