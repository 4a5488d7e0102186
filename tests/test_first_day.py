"""What a new user's first day broke (issue 16): hints for near-miss names, catalog lookups of
licenses and GPUs, which GPU variant a bare name was read as, and the base-model risk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.catalog import load_catalog
from selector.cli import app
from selector.hardware import resolve_hardware
from selector.pipeline import SmokePlan, recommend
from selector.requirements import load_requirements
from selector.tomlio import did_you_mean

runner = CliRunner()


def run_req(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "req.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["recommend", str(path), "--no-smoke", "--format", "json"])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("toml", "hint"),
    [
        ('[license]\nallow = ["Llama3.1"]\n', "'llama-3.1'"),
        ('[license]\nallow = ["gemma-terms"]\n', "'gemma'"),
        ('[license]\nallow = ["apache 2.0"]\n', "'Apache-2.0'"),
        ('[license]\ndeny_clauses = ["aup"]\n', "'acceptable-use-policy'"),
        ('[license]\ndeny_clauses = ["non commercial"]\n', "'non-commercial'"),
        ('[use_case]\nneeds = ["function-calling"]\n', "'tool-calling'"),
        ('[origin]\nexclude_countries = ["China"]\n', "'CN'"),
        ('[origin]\nexclude_countries = ["USA"]\n', "'US'"),
        ('[origin]\nexclude_countries = ["UK"]\n', "'GB'"),
    ],
)
def test_near_miss_names_get_the_right_id(tmp_path: Path, toml: str, hint: str) -> None:
    code, output = run_req(tmp_path, toml)
    assert code == 2, output
    assert f"did you mean {hint}?" in output
    assert "Traceback" not in output


def test_every_bad_country_is_named_at_once(tmp_path: Path) -> None:
    code, output = run_req(tmp_path, '[origin]\nexclude_countries = ["China", "CN", "Russia"]\n')
    assert code == 2
    assert "'China' (did you mean 'CN'?)" in output and "'Russia' (did you mean 'RU'?)" in output


def test_no_hint_for_a_word_nothing_resembles() -> None:
    assert did_you_mean("zzzzqqq", ["apache-2.0", "mit"]) == ""
    assert did_you_mean("mit", ["apache-2.0", "mit"]) == ""  # the word itself is no hint


def test_catalog_show_a_license_and_a_gpu() -> None:
    lic = runner.invoke(app, ["catalog", "show", "apache-2.0"])
    assert lic.exit_code == 0, lic.output
    assert "Apache License 2.0" in lic.stdout and "qwen3-8b" in lic.stdout
    gpu = runner.invoke(app, ["catalog", "show", "L40S", "--format", "json"])
    assert gpu.exit_code == 0, gpu.output
    assert json.loads(gpu.stdout)["vram_gb"] == 48


def test_catalog_show_unknown_id_names_the_closest() -> None:
    result = runner.invoke(app, ["catalog", "show", "apache-2"])
    assert result.exit_code == 2
    assert "no model, license or GPU with id 'apache-2'" in result.output
    assert "did you mean 'apache-2.0'?" in result.output


def test_catalog_licenses_and_gpus_list_every_entry() -> None:
    cat = load_catalog()
    licenses = runner.invoke(app, ["catalog", "licenses", "--format", "json"])
    assert licenses.exit_code == 0, licenses.output
    rows = json.loads(licenses.stdout)
    assert {r["id"] for r in rows} == set(cat.licenses)
    by_id = {r["id"]: r for r in rows}
    users = sorted(m.id for m in cat.models.values() if m.license == "apache-2.0")
    assert by_id["apache-2.0"]["models"] == users
    gpus = runner.invoke(app, ["catalog", "gpus", "--format", "json"])
    assert gpus.exit_code == 0, gpus.output
    assert {r["id"] for r in json.loads(gpus.stdout)} == set(cat.gpus)
    table = runner.invoke(app, ["catalog", "gpus"])
    assert table.exit_code == 0 and "L40S" in table.stdout


@pytest.mark.parametrize(
    ("name", "assumed", "other"),
    [("A100", "A100 80GB SXM", "A100 40GB PCIe"), ("H100", "H100 SXM", "H100 PCIe")],
)
def test_a_bare_gpu_family_says_which_variant_was_assumed(
    tmp_path: Path, name: str, assumed: str, other: str
) -> None:
    cat = load_catalog()
    path = tmp_path / "req.toml"
    path.write_text(f'[hardware]\ngpus = [{{ model = "{name}" }}]\nram_gb = 64\n')
    hw = resolve_hardware(load_requirements(path, cat).hardware, cat)
    notes = [n for n in hw.notes if n.startswith(f"GPU {name!r} read as {assumed}")]
    assert len(notes) == 1, hw.notes
    assert other in notes[0]


def test_a_named_variant_gets_no_note(tmp_path: Path) -> None:
    cat = load_catalog()
    path = tmp_path / "req.toml"
    path.write_text('[hardware]\ngpus = [{ model = "A100 40GB PCIe" }]\nram_gb = 64\n')
    hw = resolve_hardware(load_requirements(path, cat).hardware, cat)
    assert not [n for n in hw.notes if "read as" in n]


def test_a_base_model_in_the_shortlist_carries_a_risk(tmp_path: Path) -> None:
    cat = load_catalog()
    base_ids = {m.id for m in cat.models.values() if m.tuning.value == "base"}
    assert base_ids, "the catalog has a base model (the demo model)"
    path = tmp_path / "req.toml"
    path.write_text("[hardware]\ncpu_only = true\nram_gb = 64\n")
    req = load_requirements(path, cat)
    report = recommend(req, cat, resolve_hardware(req.hardware, cat), SmokePlan(enabled=False))
    shortlisted = [c for c in report.candidates if c.id in base_ids]
    assert shortlisted, [c.id for c in report.candidates]
    for c in shortlisted:
        assert any(r.startswith("base model, not instruction-tuned") for r in c.risks)
    instruct = [c for c in report.candidates if c.id not in base_ids]
    assert instruct and not any("base model" in r for c in instruct for r in c.risks)
