"""A per-user cache of the validated catalog, so `recommend` does not re-parse TOML each run.

Keyed by selector's version and every catalog file's path, size and modification time: editing
a file, adding one, or upgrading selector misses the cache. An entry is JSON, validated against
the catalog schema on load (a pickle would run whatever code a planted file holds), and only
an entry owned by this user and writable by nobody else is read. An entry that cannot be read
or does not validate is a miss and is rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from selector import __version__
from selector.catalog.loader import Catalog
from selector.catalog.schema import CatalogFile
from selector.paths import cache_dir, write_atomic

FORMAT = 2  # 1 was a pickle
_MAX_ENTRY_BYTES = 64 * 2**20


class _Snapshot(BaseModel):
    """What one cache entry holds: the catalog's valid entries in order, and their files."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    format: int
    key: str
    catalog: CatalogFile
    origin: dict[str, str]


def catalog_key(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in files:
        st = path.stat()
        digest.update(f"\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _entry(key: str) -> Path:
    return cache_dir() / "catalog" / f"{key}.json"


def _read_own_file(path: Path) -> bytes | None:
    """The entry's bytes, if it is a regular file of ours that no one else can write."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_ENTRY_BYTES:
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None  # planted by someone else, or open to them: not trusted
        return fh.read(_MAX_ENTRY_BYTES + 1)


def load_cached(key: str) -> Catalog | None:
    data = _read_own_file(_entry(key))
    if data is None:
        return None
    try:
        snap = _Snapshot.model_validate_json(data)
    except (ValidationError, ValueError):  # a corrupt, stale-format or tampered entry: a miss
        return None
    if snap.format != FORMAT or snap.key != key:
        return None
    content = snap.catalog
    return Catalog(
        models={m.id: m for m in content.model},
        licenses={lic.id: lic for lic in content.license},
        gpus={g.id: g for g in content.gpu},
        artifacts={a.id: a for a in content.artifact},
        origin={k: Path(v) for k, v in snap.origin.items()},
    )


def store(key: str, cat: Catalog) -> None:
    snap = _Snapshot.model_construct(
        format=FORMAT,
        key=key,
        catalog=CatalogFile.model_construct(
            model=list(cat.models.values()),
            license=list(cat.licenses.values()),
            gpu=list(cat.gpus.values()),
            artifact=list(cat.artifacts.values()),
        ),
        origin={k: str(v) for k, v in cat.origin.items()},
    )
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-parse next time
        write_atomic(_entry(key), snap.model_dump_json())
