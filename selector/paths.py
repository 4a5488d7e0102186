"""Where selector keeps its caches, and how it writes files so none is left half-written."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

CACHE_ENV = "SELECTOR_CACHE_DIR"


def cache_dir() -> Path:
    """`$SELECTOR_CACHE_DIR`, else the user cache directory platformdirs gives for selector."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return _platform_cache_dir()


@functools.cache
def _platform_cache_dir() -> Path:
    # asked once per fit estimate; platformdirs resolves it afresh each time
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("selector"))


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
