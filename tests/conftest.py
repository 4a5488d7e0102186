"""Shared fixtures: every cache and home directory a test touches lives under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path_factory.mktemp("selector-cache")
    monkeypatch.setenv("SELECTOR_CACHE_DIR", str(cache))


@pytest.fixture()
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture()
def quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of caching, not of contention: the test machine is shared, so a real speed
    run is often judged busy (and then, rightly, not cached). Contention has its own tests."""
    from selector.smoke import contention

    monkeypatch.setattr(contention, "BUSY_MIN_CORES", float("inf"))
    monkeypatch.setattr(contention, "BUSY_STEAL_FRACTION", float("inf"))
