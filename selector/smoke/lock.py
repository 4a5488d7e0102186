"""One local smoke run at a time on this machine, across selector processes.

Two `recommend` runs sharing a machine once measured their local models at the same time:
each saw ~9 tokens/s instead of ~42, and both results were cached and calibrated. A local run
now holds an exclusive `flock` on `<cache dir>/smoke/local-run.lock` while its child runs;
another selector waits for it, says so, and measures after. The kernel drops the lock when
the holder's process ends, however it ends, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from selector.paths import cache_dir

LOCK_NAME = "local-run.lock"
# A run holding the lock is bounded by its own timeout per candidate; a recommend run may test
# many candidates in a row, so the wait is long but not endless.
DEFAULT_WAIT_S = 3600.0
POLL_S = 0.2


class LockTimeout(Exception):
    """Another selector held the local-run lock for longer than we were willing to wait."""


def lock_path(root: Path | None = None) -> Path:
    return (root or cache_dir() / "smoke") / LOCK_NAME


def _holder(fd: int) -> str:
    """The pid the holder wrote into the lock file, for the waiting message."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


@contextlib.contextmanager
def local_run_lock(
    path: Path | None = None,
    *,
    on_wait: Callable[[str], None] | None = None,
    wait_s: float | None = None,
) -> Iterator[None]:
    """Hold the machine's local-run lock for the block; wait (and say so) while another has it.

    Where locking is impossible (no fcntl, an unwritable cache directory) the block runs
    unlocked: serialisation is a guard for the measurement, not a reason to fail the run.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path = path or lock_path()
    wait_s = DEFAULT_WAIT_S if wait_s is None else wait_s
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and on_wait is not None:
                    on_wait(f"waiting for another selector smoke run{_holder(fd)} to finish")
                told = True
                if time.monotonic() - started > wait_s:
                    raise LockTimeout(
                        f"another selector smoke run{_holder(fd)} held {path} for over {wait_s:g} s"
                    ) from None
                time.sleep(POLL_S)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock
