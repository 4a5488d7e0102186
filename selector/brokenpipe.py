"""stdout closed early (`selector ... | head -1`): stop quietly with exit 141, no traceback.

Python ignores SIGPIPE, so a write to a pipe whose reader has gone raises BrokenPipeError,
and three layers each answer it their own way: click/typer catch it inside a command and exit
1 (the code for "no candidate survives"); Rich's Console points stdout at /dev/null and exits
1; and output still in Python's buffer at exit fails to flush after the command has returned,
which prints "Exception ignored ... BrokenPipeError" and exits 120. `selector.cli.main` asks
`StdoutWatch.broke()` once, at the end, whichever layer saw it, and ends with one code.

SIGPIPE is not set back to its default action: that would also kill selector when an endpoint
closes its socket while a request is being written (Python docs, "Note on SIGPIPE":
https://docs.python.org/3/library/signal.html#note-on-sigpipe).
"""

from __future__ import annotations

import os
import sys

from selector.errors import ExitCode

STDOUT_FD = 1
# what click (8.2: PacifyFlushWrapper, 8.3+: _PacifyFlushWrapper) puts in place of sys.stdout
# when it catches EPIPE; named, not imported: the public name is deprecated in click 8.3
_CLICK_WRAPPERS = frozenset({"PacifyFlushWrapper", "_PacifyFlushWrapper"})


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class StdoutWatch:
    """What stdout was when the run began, to tell at the end whether its reader went away."""

    def __init__(self) -> None:
        self.started_as = _identity(STDOUT_FD)

    def broke(self) -> bool:
        """True when a write to stdout met a closed pipe, whoever caught it; flushes stdout."""
        if type(sys.stdout).__name__ in _CLICK_WRAPPERS:  # click/typer caught it in a command
            return True
        devnull = _devnull_identity()
        now = _identity(STDOUT_FD)
        if now is not None and now == devnull and self.started_as != devnull:
            return True  # Rich's Console.on_broken_pipe pointed stdout at /dev/null
        try:
            sys.stdout.flush()  # what is still buffered, while a failure can be seen
        except BrokenPipeError:
            return True
        except (OSError, ValueError):  # another failure (a closed or full stdout): not ours
            return False
        return False


def _devnull_identity() -> tuple[int, int] | None:
    try:
        stat = os.stat(os.devnull)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def quiet_exit() -> SystemExit:
    """The exit for a closed stdout: whatever is still buffered goes to /dev/null instead of
    failing again at interpreter exit, and nothing is printed (stderr may be the same pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, STDOUT_FD)
        os.close(devnull)
    except OSError:
        pass
    return SystemExit(int(ExitCode.BROKEN_PIPE))
