"""One base error per stage; only the CLI turns them into a message and an exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes scripts rely on (SPEC §1); the CLI never returns a bare number."""

    OK = 0
    NONE_SURVIVES = 1  # the run worked but no candidate survives; for `smoke`: the suite failed
    FAILED = 1  # the same code for other commands: a fetch that did not verify, a lock not held
    BAD_INPUT = 2
    BROKEN_PIPE = 141  # stdout's reader went away (`| head`): 128 + SIGPIPE, as a shell reports


class SelectorError(Exception):
    """Anything selector reports to the user instead of a traceback."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class InputError(SelectorError):
    """Bad input from the user: a requirements file, a catalog file or an option (exit 2)."""


class CatalogError(InputError):
    """A catalog file that cannot be used: syntax, schema, duplicate or dangling ids."""


class RequirementsError(InputError):
    """A requirements file that cannot be used."""
