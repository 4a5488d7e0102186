"""The requirements file: the SPEC example is accepted, every bad file is one clean exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.cli import app
from selector.requirements import (
    DEFAULT_TARGET_PARAMS_B,
    Requirements,
    load_requirements,
    requirements_json_schema,
)

BAD = Path(__file__).parent / "data" / "bad_requirements"
runner = CliRunner()


def _expectations(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' header"
    return [part.strip() for part in first[len("# expect: ") :].split("&&")]


BAD_FILES = sorted(BAD.glob("*.toml"))


def test_corpus_is_large_enough() -> None:
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_requirements_exit_2_with_one_clean_line(path: Path) -> None:
    result = runner.invoke(app, ["recommend", str(path), "--no-smoke", "--format", "json"])
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output, output
    assert result.stdout == "", "nothing may reach stdout for bad input"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert str(path) in errors[0], errors[0]
    for expected in _expectations(path):
        assert expected in errors[0], f"{expected!r} not in {errors[0]!r}"


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["recommend", str(tmp_path / "nope.toml"), "--no-smoke"])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_spec_example_is_accepted_verbatim(repo_root: Path) -> None:
    spec_path = repo_root.parent / "shared" / "SPEC.md"
    if not spec_path.is_file():  # pragma: no cover - CI keeps shared/ beside the checkout
        pytest.skip("../shared/SPEC.md is not beside this checkout")
    block = re.search(r"```toml\n(.*?)```", spec_path.read_text(encoding="utf-8"), re.S)
    assert block is not None, "SPEC §2 has no TOML example"
    path = repo_root / "tests" / "_spec_example.toml"
    try:
        path.write_text(block.group(1), encoding="utf-8")
        req = load_requirements(path)
    finally:
        path.unlink(missing_ok=True)
    assert req.license.allow == ["Apache-2.0", "MIT"]
    assert req.hardware.gpus[0].model == "L40S"
    assert req.size.target_params_b == 30
    assert req.smoke.models_dir == Path("~/models").expanduser()


def test_shipped_server_example_matches_spec(repo_root: Path) -> None:
    req = load_requirements(repo_root / "examples" / "server-strict-license.toml")
    assert req.use_case.needs[0].value == "tool-calling"
    assert req.latency.max_time_to_first_token_ms == 1500


def test_empty_file_means_no_constraints(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    req = load_requirements(path)
    assert req == Requirements()
    assert req.size.target_params_b == DEFAULT_TARGET_PARAMS_B
    assert req.license.allow is None
    assert not req.hardware.declared


def test_relative_models_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "req.toml"
    path.write_text('[smoke]\nmodels_dir = "weights"\n', encoding="utf-8")
    assert load_requirements(path).smoke.models_dir == (tmp_path / "weights").resolve()


def test_schema_command_prints_the_generated_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema == json.loads(json.dumps(requirements_json_schema()))
    assert set(schema["properties"]) >= {
        "use_case",
        "license",
        "origin",
        "hardware",
        "latency",
        "size",
        "smoke",
    }
    assert schema["additionalProperties"] is False
