"""A per-user cache of the validated catalog, so `recommend` does not re-parse TOML each run.

Keyed by selector's version and every catalog file's path, size and modification time: editing
a file, adding one, or upgrading selector misses the cache. A cache entry that cannot be read
is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from collections.abc import Sequence
from pathlib import Path

from selector import __version__
from selector.catalog.loader import Catalog
from selector.paths import cache_dir, write_atomic


def catalog_key(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in files:
        st = path.stat()
        digest.update(f"\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _entry(key: str) -> Path:
    return cache_dir() / "catalog" / f"{key}.pickle"


def load_cached(key: str) -> Catalog | None:
    try:
        data = _entry(key).read_bytes()
    except OSError:
        return None
    try:
        cat = pickle.loads(data)  # our own file in the user's cache dir, written by store()
    except Exception:  # a corrupt or stale-format entry is a miss
        return None
    return cat if isinstance(cat, Catalog) else None


def store(key: str, cat: Catalog) -> None:
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-parse next time
        write_atomic(_entry(key), pickle.dumps(cat, protocol=pickle.HIGHEST_PROTOCOL))
