"""Smoke results cached on disk, so a rerun with nothing changed is instant.

An entry is keyed by what could change the result: the model (file sha256, or endpoint and
model name), the probe-suite version, the hardware fingerprint and the settings. Entries are
written atomically; one that cannot be read or parsed counts as a miss and is rewritten.
File hashes are remembered by (path, size, mtime) so a multi-GB file is hashed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selector.paths import cache_dir, write_atomic
from selector.smoke.interface import SmokeResult


def _hash_memo_path(path: Path, root: Path | None = None) -> Path:
    ident = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return (root or cache_dir() / "smoke") / "hashes" / f"{ident}.json"


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def known_sha256(path: Path, root: Path | None = None) -> str | None:
    """The remembered sha256 of `path` if the file is unchanged since it was hashed."""
    try:
        memo = json.loads(_hash_memo_path(path, root).read_text(encoding="utf-8"))
        if memo["stat"] == _stat_key(path) and isinstance(memo["sha256"], str):
            return memo["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def file_sha256(path: Path, root: Path | None = None) -> str:
    """sha256 of the file, hashed once per (size, mtime, inode) and remembered."""
    known = known_sha256(path, root)
    if known:
        return known
    stat = _stat_key(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    sha = digest.hexdigest()
    with contextlib.suppress(OSError):
        memo = {"path": str(path.resolve()), "stat": stat, "sha256": sha}
        write_atomic(_hash_memo_path(path, root), json.dumps(memo))
    return sha


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable hex key for a mapping of JSON-able parts (sorted, so order does not matter)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class SmokeCache:
    """Smoke results by key under `root` (default: the user cache dir's `smoke/`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_dir() / "smoke"

    def _entry(self, key: str) -> Path:
        return self.root / "results" / f"{key}.json"

    def get(self, key: str) -> SmokeResult | None:
        """The cached result, or None when absent, unreadable or corrupt (a miss either way)."""
        try:
            text = self._entry(key).read_text(encoding="utf-8")
            stored = json.loads(text)
            if stored.get("key") != key:
                return None
            return SmokeResult.model_validate(stored["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError):
            return None

    def put(self, key: str, result: SmokeResult, *, parts: Mapping[str, Any] | None = None) -> None:
        """Store atomically; `parts` (what the key was made of) is kept for a reader's sake."""
        payload = {
            "key": key,
            "parts": dict(parts or {}),
            "result": result.model_dump(mode="json"),
        }
        write_atomic(self._entry(key), json.dumps(payload, indent=1, default=str))

    def known_sha256(self, path: Path) -> str | None:
        return known_sha256(path, self.root)

    def file_sha256(self, path: Path) -> str:
        return file_sha256(path, self.root)
