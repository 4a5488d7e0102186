"""The other commands (catalog, hardware, schema, --version) and docs that must match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from selector import __version__
from selector.cli import app
from selector.hardware import parse_nvidia_smi
from selector.requirements import Requirements

runner = CliRunner()

LIST_KEYS = {
    "id",
    "family",
    "organization",
    "origin_country",
    "release_date",
    "params_b",
    "active_params_b",
    "architecture",
    "context_tokens",
    "license",
    "capabilities",
    "sources",
}


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"selector {__version__}"


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("recommend", "catalog", "hardware", "smoke", "schema"):
        assert command in result.stdout


def test_catalog_list_json() -> None:
    result = runner.invoke(app, ["catalog", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) >= 12
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    for row in rows:
        assert set(row) >= LIST_KEYS, row["id"]
        assert row["sources"], row["id"]
        assert row["active_params_b"] <= row["params_b"]


def test_catalog_list_table() -> None:
    result = runner.invoke(app, ["catalog", "list"])
    assert result.exit_code == 0
    assert "gemma-3-270m" in result.stdout


def test_catalog_show_text_and_json() -> None:
    text = runner.invoke(app, ["catalog", "show", "gemma-3-270m"])
    assert text.exit_code == 0, text.output
    assert "sources:" in text.stdout and "Gemma Terms of Use" in text.stdout
    data = json.loads(
        runner.invoke(app, ["catalog", "show", "gemma-3-270m", "--format", "json"]).stdout
    )
    assert data["id"] == "gemma-3-270m"
    assert data["license_terms"]["id"] == "gemma"


def test_catalog_show_unknown_id_suggests() -> None:
    result = runner.invoke(app, ["catalog", "show", "gemma-3-270"])
    assert result.exit_code == 2
    assert "no model, license or GPU with id 'gemma-3-270'" in result.stderr
    assert "did you mean 'gemma-3-270m'" in result.stderr


def test_catalog_validate_shipped_catalog() -> None:
    result = runner.invoke(app, ["catalog", "validate"])
    assert result.exit_code == 0, result.output


def test_catalog_validate_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[model]]\nid = "x"\nname = "X"\n', encoding="utf-8")
    result = runner.invoke(app, ["catalog", "validate", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output
    assert "Traceback" not in result.output
    problems = [line for line in result.stderr.splitlines() if line.strip()]
    assert problems and all(line.startswith(f"error: {bad}:") for line in problems), problems


def test_hardware_json_describes_this_machine() -> None:
    result = runner.invoke(app, ["hardware", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"] == "detected"
    assert data["ram_gb"] > 0 and data["cpu_cores"] >= 1
    if not data["gpus"]:
        assert any("no GPU found" in n for n in data["notes"])


def test_hardware_table_says_plainly_when_no_gpu() -> None:
    result = runner.invoke(app, ["hardware"])
    assert result.exit_code == 0
    assert "RAM:" in result.stdout and (
        "GPU: none found" in result.stdout or "VRAM" in result.stdout
    )


def test_parse_nvidia_smi_groups_identical_gpus() -> None:
    slots = parse_nvidia_smi("NVIDIA L40S, 46068, 45000\nNVIDIA L40S, 46068, 1000\nbroken line\n")
    assert len(slots) == 1
    assert slots[0].count == 2
    assert slots[0].vram_gb == round(46068 / 1024, 1)
    assert slots[0].free_vram_gb == round(46000 / 1024, 1)


def _keys(model: type[BaseModel]) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys |= _keys(candidate)
    return keys


def test_docs_name_every_requirements_key(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "requirements.md").read_text(encoding="utf-8")
    missing = [
        k for k in sorted(_keys(Requirements)) if f"`{k}`" not in doc and f"[{k}]" not in doc
    ]
    assert not missing, f"docs/requirements.md does not explain: {missing}"


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(python3 -m venv .*)$", readme, re.M)
    assert len(commands) == 2, "the README starts with exactly two commands"
    ci = (repo_root / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci


def test_catalog_list_and_show_say_how_fresh_the_facts_are() -> None:
    listing = runner.invoke(app, ["catalog", "list"], terminal_width=200)
    assert listing.exit_code == 0
    assert re.search(r"catalog as of \d{4}-\d{2}-\d{2}", listing.stdout)
    rows = json.loads(runner.invoke(app, ["catalog", "list", "--format", "json"]).stdout)
    assert all(r["last_verified"] for r in rows)
    shown = runner.invoke(app, ["catalog", "show", "deepseek-v4-flash"]).stdout
    assert "last_verified: 2026-12-01" in shown
    assert "compressed: 21 layers keep 1 row per 4 tokens + indexer key 128" in shown
    assert "(competitor: DeepSeek" not in shown and "Think Max" in shown
