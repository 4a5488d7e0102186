"""docs/usage.md shows the real `--help` of every command and a real run: this test fails
when they drift from what the code prints.

Regenerate after changing an option, the table or the catalog:
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


# The sample run: the README's first command without smoke tests (they depend on the machine),
# on the laptop the example declares, as a terminal 100 columns wide shows it. Only the time
# stamp differs from run to run; the excluded list is cut after EXCLUDED_SHOWN lines.
RUN = ["recommend", "examples/cpu-laptop.toml", "--no-smoke"]
RUN_ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}
EXCLUDED_SHOWN = 10
STAMP = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
RUN_BLOCK = re.compile(r"```text\n(\$ selector recommend examples/cpu-laptop\.toml.*?)```", re.S)


def real_run() -> str:
    """What `selector recommend examples/cpu-laptop.toml --no-smoke` prints, as the doc shows it."""
    root = DOC.parents[1]
    old = Path.cwd()
    os.chdir(root)  # the command as a user types it in the repository
    try:
        result = CliRunner().invoke(app, RUN, env=RUN_ENV)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    lines, excluded = [], None
    for line in (x.rstrip() for x in result.stdout.splitlines()):
        if line.startswith("Excluded: "):
            excluded = 0
        elif excluded is not None and line.startswith(("Unmatched GGUF:", "Note:", "Provenance:")):
            excluded = None
        elif excluded is not None:
            excluded += 1
            if excluded > EXCLUDED_SHOWN:
                if excluded == EXCLUDED_SHOWN + 1:
                    lines.append("  ...")
                continue
        lines.append(line)
    return "$ selector " + " ".join(RUN) + "\n" + "\n".join(lines) + "\n"


def test_usage_doc_shows_a_real_run() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = RUN_BLOCK.search(text)
    assert found is not None, "docs/usage.md has no sample run of examples/cpu-laptop.toml"
    run = real_run()
    if os.environ.get("SELECTOR_REGEN_DOCS"):
        DOC.write_text(text[: found.start(1)] + run + text[found.end(1) :], encoding="utf-8")
        pytest.skip("docs/usage.md sample run regenerated")
    assert STAMP.sub("<time>", found.group(1)) == STAMP.sub("<time>", run), (
        "docs/usage.md's sample run is not what the code prints: regenerate it "
        "(SELECTOR_REGEN_DOCS=1 .venv/bin/pytest tests/test_docs_usage.py)"
    )


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
