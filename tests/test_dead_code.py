"""No dead code outside selector/smoke/ (being rewritten): a function, method, property or
class nothing calls is removed, and a helper only a bench uses lives in bench/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What vulture cannot see used: typer's decorators register commands, pydantic's register
# validators; tests/support/vulture_whitelist.py names the rest, each with its reason.
DECORATORS = "@app.command,@catalog_app.command,@app.callback,@*_validator,@*.setter"
KINDS = re.compile(r"unused (function|method|property|class|import)")


def test_no_unused_function_outside_smoke() -> None:
    pytest.importorskip("vulture", reason="vulture is in the dev extra")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vulture",
            "selector",  # alone: a helper only a bench or a test calls belongs there
            "tests/support/vulture_whitelist.py",
            "--ignore-decorators",
            DECORATORS,
            "--min-confidence",
            "60",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # selector/smoke/ is scanned (what it calls is used) but not judged: it is being rewritten
    dead = [
        line
        for line in proc.stdout.splitlines()
        if KINDS.search(line) and not line.startswith("selector/smoke/")
    ]
    assert dead == [], "\n".join(dead)
