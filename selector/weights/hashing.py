"""The one sha256 of a weights file, remembered by (path, size, mtime, inode).

A multi-GB GGUF is hashed once: the digest is kept in a small JSON memo per file, and reused
while the file's size, mtime and inode are unchanged. Discovery, fetch and the smoke cache all
go through here, so a file `selector fetch` verified is known to `selector models` for free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from selector.paths import cache_dir, write_atomic

# 1 MiB reads into one reused buffer: as fast as hashlib.file_digest here (bench/hash_speed.py)
_BLOCK = 1 << 20


def _memo_root(root: Path | None) -> Path:
    """Memos live under `root`/hashes; default root: the selector cache's smoke directory,
    where they were kept before this module existed (so no file is hashed twice)."""
    return (root if root is not None else cache_dir() / "smoke") / "hashes"


def _memo_path(path: Path, root: Path | None = None) -> Path:
    ident = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return _memo_root(root) / f"{ident}.json"


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def known_sha256(path: Path, root: Path | None = None) -> str | None:
    """The remembered sha256 of `path` if the file is unchanged since it was hashed."""
    try:
        memo = json.loads(_memo_path(path, root).read_text(encoding="utf-8"))
        if memo["stat"] == _stat_key(path) and isinstance(memo["sha256"], str):
            return memo["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def sha256_of(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB blocks into one buffer (no memo)."""
    digest = hashlib.sha256()
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def remember_sha256(path: Path, sha: str, root: Path | None = None) -> None:
    """Store `sha` as the digest of `path` as it is now (best effort: a read-only cache is fine)."""
    with contextlib.suppress(OSError):
        memo = {"path": str(path.resolve()), "stat": _stat_key(path), "sha256": sha}
        write_atomic(_memo_path(path, root), json.dumps(memo))


def forget_sha256(path: Path, root: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        _memo_path(path, root).unlink()


def file_sha256(path: Path, root: Path | None = None) -> str:
    """sha256 of the file, hashed once per (size, mtime, inode) and remembered.

    The stat is taken before reading, so a file that changes while it is hashed is not
    remembered under its new stat with its old digest.
    """
    known = known_sha256(path, root)
    if known:
        return known
    stat = _stat_key(path)
    sha = sha256_of(path)
    with contextlib.suppress(OSError):
        memo = {"path": str(path.resolve()), "stat": stat, "sha256": sha}
        write_atomic(_memo_path(path, root), json.dumps(memo))
    return sha
