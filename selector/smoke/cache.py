"""Smoke results cached on disk, so a rerun with nothing changed is instant.

An entry is keyed by what could change the result: the model (file sha256, or endpoint and
model name), the probe-suite version, the hardware fingerprint and the settings. Entries are
written atomically; one that cannot be read or parsed counts as a miss and is rewritten.
File hashes are remembered by (path, size, mtime) in selector/weights/hashing.py, the one memo
discovery, fetch and the smoke stage share, so a multi-GB file is hashed once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selector.paths import cache_dir, write_atomic
from selector.smoke.interface import SmokeResult
from selector.weights.hashing import file_sha256, known_sha256

__all__ = ["SmokeCache", "cache_key", "file_sha256", "known_sha256"]


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
