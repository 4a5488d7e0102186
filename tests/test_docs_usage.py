"""docs/usage.md shows the real `--help` of every command: this test fails when they drift.

Regenerate after changing an option:
`SELECTOR_REGEN_DOCS=1 .venv/bin/pytest tests/test_docs_usage.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.cli import app

COMMANDS = [
    [],
    ["recommend"],
    ["catalog"],
    ["catalog", "list"],
    ["catalog", "show"],
    ["catalog", "validate"],
    ["catalog", "licenses"],
    ["catalog", "gpus"],
    ["hardware"],
    ["smoke"],
    ["schema"],
    ["lock"],
    ["verify"],
    ["models"],
    ["fetch"],
    ["explain"],
]
DOC = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
# Rich renders help to the terminal's width and colour; pin both so the text is reproducible.
ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}


def render_help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env=ENV, terminal_width=100)
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in result.stdout.splitlines()).strip() + "\n"


def section(args: list[str]) -> str:
    title = " ".join(["selector", *args, "--help"])
    return f"## `{title}`\n\n```text\n{render_help(args)}```\n"


def test_usage_doc_shows_the_real_help() -> None:
    expected = [section(args) for args in COMMANDS]
    if os.environ.get("SELECTOR_REGEN_DOCS"):
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        head = text.split("\n## `selector")[0].rstrip() + "\n\n" if text else "# Usage\n\n"
        tail = ""
        marker = "\n## A real run"
        if marker in text:
            tail = text[text.index(marker) :]
        DOC.write_text(head + "\n".join(expected) + tail, encoding="utf-8")
        pytest.skip("docs/usage.md regenerated")
    text = DOC.read_text(encoding="utf-8")
    for block in expected:
        title = re.search(r"## `(.*?)`", block)
        assert title is not None
        assert block in text, f"docs/usage.md is out of date for `{title.group(1)}`"
