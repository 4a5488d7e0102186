"""SIGTERM and SIGHUP while a smoke child runs: clean up, then die of the same signal.

Without this, `kill <selector pid>` ended selector at once and left its llama.cpp child (in its
own session, so that a timeout can kill its whole group) running without a time limit, with
its temporary folder in place. While `terminate_on_signals()` is active the signals raise
`Terminated` instead, so the `finally` blocks run: the child's process group is killed and its
folder removed. The command line then re-raises the signal (`die_of`), so whoever sent it sees
selector end by that signal, as it would have without the handler.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """Raised by a handled signal; a BaseException so `except Exception` does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _raise(signum: int, _frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into `Terminated` for the block (main thread only; a signal the
    process ignores, such as SIGHUP under nohup, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, object] = {}
    for sig in HANDLED:
        try:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            previous[sig] = signal.signal(sig, _raise)
        except (ValueError, OSError):  # not available here
            continue
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def die_of(exc: Terminated) -> NoReturn:
    """End this process by the signal that raised `exc`, with its default action."""
    signal.signal(exc.signum, signal.SIG_DFL)
    os.kill(os.getpid(), exc.signum)
    raise SystemExit(128 + exc.signum)  # if the signal did not end us
