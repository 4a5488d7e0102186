"""Shared fixtures: every cache and home directory a test touches lives under tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# What a test outside the `integration` tier sees: llama_cpp cannot be imported, in this
# process or in any Python it starts (a smoke child, `python -m selector`), so a test that
# loads a real model through llama.cpp fails unless it is marked `integration`.
_NO_LLAMA_CPP = """\
import sys


class NoLlamaCpp:
    def find_spec(self, name, path=None, target=None):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError("llama_cpp is not loaded outside the integration tier")
        return None


sys.meta_path.insert(0, NoLlamaCpp())
"""


class _NoLlamaCpp:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError("llama_cpp is not loaded outside the integration tier")


@pytest.fixture(autouse=True)
def _unit_tier_loads_no_llama_cpp(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if request.node.get_closest_marker("integration"):
        return
    block = tmp_path_factory.getbasetemp() / "no-llama-cpp"
    if not (block / "sitecustomize.py").exists():
        block.mkdir(exist_ok=True)
        (block / "sitecustomize.py").write_text(_NO_LLAMA_CPP, encoding="utf-8")
    for name in [m for m in sys.modules if m == "llama_cpp" or m.startswith("llama_cpp.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoLlamaCpp(), *sys.meta_path])
    paths = [str(block), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


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
