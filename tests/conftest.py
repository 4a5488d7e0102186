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
    # the tool caches selector looks in for weights (docs/weights.md): empty unless a test
    # lays one out; no test reaches a real hub or reads what this machine happens to hold
    tools = tmp_path_factory.mktemp("tool-caches")
    monkeypatch.setenv("HF_HUB_CACHE", str(tools / "hf-hub"))
    monkeypatch.setenv("LLAMA_CACHE", str(tools / "llama.cpp"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tools / "ollama"))
    for var in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    # tables render for $COLUMNS when set (selector/tables.py): a test sees piped output
    monkeypatch.delenv("COLUMNS", raising=False)


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
