"""Help that names real things: a flag shows no `<bool>`, a repeatable option no `<list[Path]>`.

typer 0.29 prints a type column (`<bool>`, `<list[Path]>`) wherever an option has no
`metavar`. selector's own options set one (PATH, N, REQ.toml); `HelpGroup` gives the rest a
name too, so a command defined elsewhere and the `--help` option typer adds read the same:
a flag and `--help` show nothing, a repeatable option its element's name (PATH, TEXT, N).
"""

from __future__ import annotations

import re
from typing import Any

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


class HelpGroup(TyperGroup):
    """A command group whose commands' help names values instead of Python types."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, HelpGroup):
            name_params(command, ctx)
        return command

    def get_help_option(self, ctx: Any) -> Any:
        _name_options(self, ctx)  # the group's own options (`--version`)
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option
