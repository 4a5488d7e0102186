"""One rule for a user's catalog files: `catalog validate` and `recommend --catalog` read them
the same way, with and without --replace-catalog; problems come back as data, not strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.catalog import load_catalog, validate_catalog
from selector.catalog.loader import parse_catalog_file, read_catalog
from selector.cli import app
from selector.errors import CatalogError
from selector.tomlio import FileProblem, load_toml

runner = CliRunner()

MODEL = """
[[model]]
id = "{id}"
name = "ACME {id}"
family = "acme"
organization = "ACME Corp"
origin_country = "DE"
release_date = 2025-06-01
params_b = 7.0
architecture = "dense"
layers = 28
context_tokens = 32768
license = "{license}"
capabilities = ["tool-calling"]
sources = ["https://acme.example/{id}"]

[model.attention]
heads = 28
kv_heads = 4
head_dim = 128
"""

OWN_APACHE = """
[[license]]
id = "apache-2.0"
name = "ACME's own reading of Apache 2.0"
spdx = "Apache-2.0"
osi_approved = true
commercial_use = true
url = "https://www.apache.org/licenses/LICENSE-2.0"
sources = ["https://acme.example/legal/apache"]
"""

CASES = {
    # name: (file text, accepted when added, accepted when replacing)
    "shipped license id": (MODEL.format(id="acme-7b", license="apache-2.0"), True, True),
    "unknown license": (MODEL.format(id="acme-7b", license="acme-nope"), False, False),
    "shipped model id": (MODEL.format(id="qwen3-8b", license="apache-2.0"), False, True),
    "own license of a shipped id": (
        OWN_APACHE + MODEL.format(id="acme-7b", license="apache-2.0"),
        False,
        True,
    ),
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text(text, encoding="utf-8")
    return path


def loads(path: Path, replace: bool) -> str:
    """`` when load_catalog accepts `path`, else its error."""
    try:
        load_catalog([path], replace=replace)
    except CatalogError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("replace", [False, True], ids=["add", "replace"])
def test_validate_and_load_agree(tmp_path: Path, case: str, replace: bool) -> None:
    text, added_ok, replaced_ok = CASES[case]
    path = write(tmp_path, text)
    report = validate_catalog([path], replace=replace)
    error = loads(path, replace)
    assert report.ok == (error == ""), (report.lines(), error)
    assert report.ok == (replaced_ok if replace else added_ok), report.lines()
    assert error == "\n".join(report.lines())  # the same problems, in the same words


def test_recommend_replacing_the_catalog_with_a_model_under_a_shipped_license(
    tmp_path: Path,
) -> None:
    """The first-day finding: validate accepted this file, --replace-catalog refused it."""
    path = write(tmp_path, MODEL.format(id="acme-7b", license="apache-2.0"))
    check = runner.invoke(app, ["catalog", "validate", str(path), "--replace-catalog"])
    assert check.exit_code == 0, check.output
    req = tmp_path / "req.toml"
    req.write_text("[hardware]\ncpu_only = true\nram_gb = 64\n", encoding="utf-8")
    args = ["recommend", str(req), "--catalog", str(path), "--replace-catalog", "--no-smoke"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    ids = {c["id"] for c in report["candidates"]} | {e["id"] for e in report["excluded"]}
    assert ids == {"acme-7b"}
    (cand,) = report["candidates"]
    assert cand["license_terms"]["id"] == "apache-2.0"
    # provenance names the shipped license file the replacement still reads, and the file
    names = [f["name"] for f in report["provenance"]["catalog"]["files"]]
    assert "extra[0]/acme.toml" in names
    assert any(n.startswith("shipped/") and "license" in n for n in names)
    assert not any(n.startswith("shipped/models/") for n in names)


def test_replacing_takes_the_private_license_of_a_shipped_id(tmp_path: Path) -> None:
    path = write(tmp_path, OWN_APACHE + MODEL.format(id="acme-7b", license="apache-2.0"))
    cat = load_catalog([path], replace=True)
    assert cat.licenses["apache-2.0"].name == "ACME's own reading of Apache 2.0"
    assert "mit" in cat.licenses and cat.gpus  # the other shipped licenses and GPUs stay
    assert set(cat.models) == {"acme-7b"}


def test_validate_replace_needs_a_path() -> None:
    result = runner.invoke(app, ["catalog", "validate", "--replace-catalog"])
    assert result.exit_code == 2
    assert "needs the PATH" in result.stderr


def test_problems_are_data_with_file_line_column_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[model]]\nid = "x"\nid = "y"\n', encoding="utf-8")
    with pytest.raises(FileProblem) as caught:
        load_toml(bad)
    problem = caught.value.problem
    assert (problem.file, problem.line, problem.column) == (bad, 3, 9)
    assert problem.message.startswith("TOML syntax error")
    assert str(problem).startswith(f"{bad}:3:9: TOML syntax error")

    schema = write(tmp_path, MODEL.format(id="acme-7b", license="mit").replace("7.0", '"lots"'))
    (problem,) = parse_catalog_file(schema).problems
    assert (problem.file, problem.key) == (schema, "model[0].params_b")
    assert problem.line == schema.read_text().splitlines().index('params_b = "lots"') + 1
    assert "lots" in problem.message and "params_b" not in problem.message
    assert str(problem) == f"{schema}:{problem.line}: model[0].params_b: {problem.message}"


def test_one_reading_for_both(tmp_path: Path) -> None:
    """validate_catalog is read_catalog's report: the same files and problems."""
    path = write(tmp_path, MODEL.format(id="qwen3-8b", license="nope"))
    read = read_catalog([path])
    report = validate_catalog([path])
    assert report.problems == read.problems
    assert report.files == [f.path for f in read.files]
