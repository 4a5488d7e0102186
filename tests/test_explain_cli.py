"""`selector explain ID REQ.toml`: filters with figures, terms, rank, what-if, via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from decision_factory import model_entry, toml_catalog
from typer.testing import CliRunner

from selector.cli import app

runner = CliRunner()

REQ = """
[use_case]
context_tokens = 8192
[hardware]
gpus = [{ model = "card-48" }]
ram_gb = 64
[origin]
exclude_countries = ["CN"]
[size]
max_params_b = 40
"""


def setup(tmp_path: Path) -> list[str]:
    models = [
        model_entry("small", 8, quality=50),
        model_entry("mid", 14, quality=60),
        model_entry("cn", 14, quality=70, origin_country="CN"),
        model_entry("big", 72, quality=80),
    ]
    (tmp_path / "catalog.toml").write_text(toml_catalog(*models), encoding="utf-8")
    (tmp_path / "req.toml").write_text(REQ, encoding="utf-8")
    return ["--catalog", str(tmp_path / "catalog.toml"), "--replace-catalog", "--no-smoke"]


def explain(tmp_path: Path, model_id: str, *extra: str) -> tuple[int, str]:
    opts = setup(tmp_path)
    result = runner.invoke(app, ["explain", model_id, str(tmp_path / "req.toml"), *opts, *extra])
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_candidate_json(tmp_path: Path) -> None:
    code, out = explain(tmp_path, "mid", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["status"], data["rank"], data["candidates_total"]) == ("candidate", 1, 2)
    assert data["what_if"] is None
    assert [c["code"] for c in data["checks"]] == [
        "license", "origin", "capability", "context", "size", "disk", "fit", "latency", "smoke",
    ]  # fmt: skip
    assert all(c["passed"] for c in data["checks"])
    size = next(c for c in data["checks"] if c["code"] == "size")
    assert size["details"] == ["14B parameters <= max_params_b 40"]
    terms = {t["name"]: t for t in data["terms"]}
    # MMLU-Pro 60, less the chosen preset's quantization cost (auto picks Q8_0 here: 0.02%)
    assert terms["quality"]["value"] == pytest.approx(0.6, abs=0.001)
    assert terms["quality"]["value"] < 0.6 and "Q8_0" in terms["quality"]["why"]
    assert terms["quality"]["weight"] == 0.35
    assert sum(t["contribution"] for t in data["terms"]) == pytest.approx(data["score"], abs=1e-3)
    assert data["pareto"] is True


def test_excluded_model_text_names_the_admitting_change(tmp_path: Path) -> None:
    code, out = explain(tmp_path, "cn")
    assert code == 0, out
    assert out.startswith("cn (CN): excluded; admitted as it is it would rank 1 of 3")
    assert "FAIL origin     developed in CN (Example Lab), which is excluded" in out
    assert "pass size       14B parameters <= max_params_b 40" in out
    assert 'origin.exclude_countries: ["CN"] -> []  (drop CN from the excluded countries)' in out


def test_excluded_model_json_what_if(tmp_path: Path) -> None:
    code, out = explain(tmp_path, "big", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["status"] == "excluded" and data["rank"] is None
    failed = {c["code"] for c in data["checks"] if not c["passed"]}
    assert "size" in failed
    keys = {c["key"]: c["needed"] for c in data["what_if"]["changes"]}
    assert keys["size.max_params_b"] == 72
    assert data["what_if"]["admitted"] is True


def test_unknown_model_is_exit_2_with_a_hint(tmp_path: Path) -> None:
    code, out = explain(tmp_path, "smal")
    assert code == 2
    assert out.strip() == "error: unknown model id 'smal' (did you mean 'small'?)"
