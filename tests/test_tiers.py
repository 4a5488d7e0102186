"""The test tiers hold: outside `integration`, llama.cpp cannot be loaded (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_the_fast_tier_cannot_import_llama_cpp_here_or_in_a_child() -> None:
    with pytest.raises(ImportError, match="integration tier"):
        import llama_cpp  # noqa: F401
    child = subprocess.run(
        [sys.executable, "-c", "import llama_cpp"], capture_output=True, text=True, check=False
    )
    assert child.returncode != 0 and "integration tier" in child.stderr


@pytest.mark.integration
def test_the_integration_tier_can() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is a dependency; not installed here")
    child = subprocess.run(
        [sys.executable, "-c", "import llama_cpp"], capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
