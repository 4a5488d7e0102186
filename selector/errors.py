"""One base error per stage; only the CLI turns them into a message and an exit code."""

from __future__ import annotations


class SelectorError(Exception):
    """Anything selector reports to the user instead of a traceback."""

    exit_code = 2


class InputError(SelectorError):
    """Bad input from the user: a requirements file, a catalog file or an option (exit 2)."""


class CatalogError(InputError):
    """A catalog file that cannot be used: syntax, schema, duplicate or dangling ids."""


class RequirementsError(InputError):
    """A requirements file that cannot be used."""
