"""One process-wide switch that ends every endpoint request in flight (Ctrl-C, shutdown).

Kept apart from the HTTP code so the runner can flip it without importing httpx/httpcore.
"""

from __future__ import annotations

import threading

_CANCEL = threading.Event()


def cancel_requests() -> None:
    """Make every endpoint request in this process end now; their waits check every 0.25 s."""
    _CANCEL.set()


def reset_cancel() -> None:
    """Allow requests again (a new batch of smoke runs, tests)."""
    _CANCEL.clear()


def requests_cancelled() -> bool:
    return _CANCEL.is_set()


def cancellable_sleep(seconds: float) -> None:
    """time.sleep that returns early when requests are cancelled (the caller then checks)."""
    _CANCEL.wait(max(seconds, 0.0))
