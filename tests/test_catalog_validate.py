"""`validate_catalog` finds each kind of catalog problem, with file and line, across files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from selector.catalog import load_catalog, validate_catalog
from selector.catalog.checks import ValidationReport
from selector.errors import CatalogError

LICENSE = """
[[license]]
id = "test-license"
name = "Test License"
osi_approved = true
commercial_use = true
url = "https://example.com/license"
sources = ["https://example.com/license"]
"""

GPUS = """
[[gpu]]
id = "card-a"
model = "Card A"
aliases = ["CA-1"]
vendor = "Example"
segment = "consumer"
vram_gb = 24
bandwidth_gb_s = 900
sources = ["https://example.com/a"]
"""

MODEL_FIELDS = {
    "id": '"test-model"',
    "name": '"Test Model"',
    "family": '"test"',
    "organization": '"Example Lab"',
    "origin_country": '"FR"',
    "release_date": "2025-01-15",
    "params_b": "8.0",
    "architecture": '"dense"',
    "layers": "32",
    "context_tokens": "32768",
    "license": '"test-license"',
    "sources": '["https://example.com/model"]',
}
ATTENTION = {"heads": "32", "kv_heads": "8", "head_dim": "128"}


def model_toml(
    drop: tuple[str, ...] = (),
    attention: dict[str, str] | None = None,
    extra: str = "",
    **fields: str,
) -> str:
    """A [[model]] entry: valid unless `fields`, `drop` or `attention` break it."""
    values = {**MODEL_FIELDS, **fields}
    lines = ["[[model]]"] + [f"{k} = {v}" for k, v in values.items() if k not in drop]
    lines.append(extra)
    lines.append("[model.attention]")
    lines += [f"{k} = {v}" for k, v in {**ATTENTION, **(attention or {})}.items()]
    return "\n".join(lines) + "\n"


def write(path: Path, *parts: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def validate(*paths: Path) -> ValidationReport:
    return validate_catalog(list(paths), include_builtin=False)


def only_problem(report: ValidationReport) -> str:
    assert len(report.problems) == 1, report.lines()
    return report.lines()[0]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith(needle):
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def test_a_valid_small_catalog_is_ok(tmp_path: Path) -> None:
    write(tmp_path / "lic.toml", LICENSE, GPUS)
    write(tmp_path / "models" / "m.toml", model_toml())
    report = validate(tmp_path)
    assert report.ok, report.lines()
    assert (report.models, report.licenses, report.gpus) == (1, 1, 1)
    assert len(report.files) == 2


def test_missing_sources(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(drop=("sources",)))
    line = only_problem(validate(path))
    assert "model[0].sources" in line and "Field required" in line
    assert line.startswith(f"{path}:{line_of(path, '[[model]]')}:")


def test_empty_sources_list(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(sources="[]"))
    assert "sources" in only_problem(validate(path))


def test_license_without_sources(tmp_path: Path) -> None:
    lic = LICENSE.replace('sources = ["https://example.com/license"]\n', "")
    path = write(tmp_path / "lic.toml", lic)
    assert "license[0].sources" in only_problem(validate(path))


def test_duplicate_id_across_files_names_the_first(tmp_path: Path) -> None:
    first = write(tmp_path / "a.toml", LICENSE, model_toml())
    second = write(tmp_path / "b.toml", model_toml(name='"Another"'))
    line = only_problem(validate(tmp_path))
    assert line.startswith(f"{second}:{line_of(second, 'id =')}:")
    assert "duplicate model id 'test-model'" in line
    first_line = line_of(first, 'id = "test-model"')
    assert f"{first}:{first_line}" in line


def test_duplicate_id_within_one_file(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(), model_toml())
    assert "duplicate model id" in only_problem(validate(path))


def test_unknown_license_points_at_the_license_line(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(license='"test-licence"'))
    line = only_problem(validate(path))
    assert line.startswith(f"{path}:{line_of(path, 'license =')}:")
    assert "unknown license 'test-licence'" in line and "did you mean 'test-license'" in line


def test_active_parameters_above_total(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(active_params_b="9.0"))
    assert "active_params_b exceeds params_b" in only_problem(validate(path))


def test_kv_heads_must_divide_heads(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(attention={"kv_heads": "5"}))
    assert "kv_heads does not divide" in only_problem(validate(path))


def test_moe_needs_active_parameters(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(architecture='"moe"'))
    assert "needs active_params_b" in only_problem(validate(path))


def test_sliding_and_global_layers_within_layers(tmp_path: Path) -> None:
    attention = {"global_layers": "10", "sliding_layers": "30", "sliding_window": "1024"}
    path = write(tmp_path / "m.toml", LICENSE, model_toml(attention=attention))
    assert "exceeds layers" in only_problem(validate(path))


def test_release_date_must_parse(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(release_date='"2025-02-30"'))
    line = only_problem(validate(path))
    assert "release_date" in line and "date" in line.split("release_date", 1)[1]
    assert line.startswith(f"{path}:{line_of(path, 'release_date')}:")


def test_release_date_in_the_future(tmp_path: Path) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    path = write(tmp_path / "m.toml", LICENSE, model_toml(release_date=tomorrow.isoformat()))
    line = only_problem(validate(path))
    assert "is in the future" in line
    assert line.startswith(f"{path}:{line_of(path, 'release_date')}:")


def test_benchmark_needs_a_source(tmp_path: Path) -> None:
    bench = '[[model.benchmarks]]\nname = "MMLU"\nscore = 70.1\n'
    path = write(tmp_path / "m.toml", LICENSE, model_toml() + bench)
    line = only_problem(validate(path))
    assert "benchmarks[0].source" in line and "Field required" in line


def test_benchmark_with_source_is_fine(tmp_path: Path) -> None:
    bench = '[[model.benchmarks]]\nname = "MMLU"\nscore = 70.1\nsource = "https://example.com/b"\n'
    path = write(tmp_path / "m.toml", LICENSE, model_toml() + bench)
    assert validate(path).ok


def test_mau_cap_needs_a_threshold(tmp_path: Path) -> None:
    clause = '[[license.clauses]]\nkind = "mau-cap"\ndetail = "big users ask first"\n'
    path = write(tmp_path / "lic.toml", LICENSE + clause)
    assert "mau-cap clause needs its threshold" in only_problem(validate(path))


def test_unverified_must_name_a_field(tmp_path: Path) -> None:
    extra = 'unverified = ["release_date", "attention.kv_heads", "paramz_b"]'
    path = write(tmp_path / "m.toml", LICENSE, model_toml(extra=extra))
    assert "unverified names unknown field 'paramz_b'" in only_problem(validate(path))


def test_gguf_files_are_bare_gguf_names(tmp_path: Path) -> None:
    extra = 'gguf_files = ["model-Q4_K_M.gguf", "org/model.bin"]'
    path = write(tmp_path / "m.toml", LICENSE, model_toml(extra=extra))
    assert "'org/model.bin'" in only_problem(validate(path))


def test_gpu_name_resolving_to_two_gpus(tmp_path: Path) -> None:
    other = GPUS.replace('"card-a"', '"card-b"').replace('"Card A"', '"Card B"')
    path = write(tmp_path / "gpus.toml", GPUS, other)
    line = only_problem(validate(path))
    assert "'ca1' already resolves to GPU 'card-a'" in line


def test_unknown_key_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", LICENSE, model_toml(extra="contxt_tokens = 4096"))
    line = only_problem(validate(path))
    assert "unknown key" in line and "context_tokens" in line
    assert line.startswith(f"{path}:{line_of(path, 'contxt_tokens')}:")


def test_all_problems_across_files_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", LICENSE, model_toml(id='"model-a"', active_params_b="9.0"))
    write(tmp_path / "b.toml", model_toml(id='"model-b"', license='"nope"'))
    write(tmp_path / "c.toml", "[[model]\nid = ")  # TOML syntax error
    write(tmp_path / "d.toml", model_toml(id='"model-d"', attention={"kv_heads": "7"}))
    report = validate(tmp_path)
    text = "\n".join(report.lines())
    assert len(report.problems) == 4, text
    assert "a.toml:" in text and "active_params_b exceeds" in text
    assert "b.toml:" in text and "unknown license 'nope'" in text
    assert "c.toml:1:" in text and "TOML syntax error" in text
    assert "d.toml:" in text and "kv_heads does not divide" in text


def test_a_bad_entry_does_not_hide_its_valid_neighbours(tmp_path: Path) -> None:
    # model-b is valid but names an unknown license: reported although model-a breaks the file.
    path = write(
        tmp_path / "m.toml",
        LICENSE,
        model_toml(id='"model-a"', drop=("layers",)),
        model_toml(id='"model-b"', license='"missing"'),
    )
    text = "\n".join(validate(path).lines())
    assert "model[0].layers" in text and "unknown license 'missing'" in text


def test_missing_path(tmp_path: Path) -> None:
    line = only_problem(validate(tmp_path / "nowhere"))
    assert "no such catalog file or directory" in line


def test_private_model_may_not_reuse_a_shipped_id(tmp_path: Path) -> None:
    path = write(tmp_path / "private.toml", model_toml(id='"gemma-3-270m"', license='"apache-2.0"'))
    report = validate_catalog([path], include_builtin=True)
    assert len(report.problems) == 1, report.lines()
    assert report.lines()[0].startswith(f"{path}:")
    assert "duplicate model id 'gemma-3-270m'" in report.lines()[0]


def test_private_model_with_its_own_id_uses_shipped_licenses(tmp_path: Path) -> None:
    path = write(tmp_path / "private.toml", model_toml(id='"acme-ft-8b"', license='"apache-2.0"'))
    report = validate_catalog([path], include_builtin=True)
    assert report.ok, report.lines()
    assert "acme-ft-8b" in load_catalog([path]).models


def test_load_catalog_refuses_with_every_problem(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", LICENSE, model_toml(id='"model-a"', active_params_b="9.0"))
    write(tmp_path / "b.toml", model_toml(id='"model-b"', license='"nope"'))
    with pytest.raises(CatalogError) as caught:
        load_catalog([tmp_path], replace=True)
    message = str(caught.value)
    assert "active_params_b exceeds" in message and "unknown license 'nope'" in message


def test_the_shipped_catalog_validates_clean() -> None:
    report = validate_catalog(None, include_builtin=True)
    assert report.ok, "\n".join(report.lines())
    assert report.models > 0 and report.licenses >= 15 and report.gpus >= 20


ARTIFACT = """
[[artifact]]
model = "test-model"
quantization = "Q4_K_M"
repo = "example/test-model-GGUF"
revision = "0123456789abcdef0123456789abcdef01234567"
source = "https://huggingface.co/example/test-model-GGUF/tree/main"
files = [{ name = "test-model-Q4_K_M.gguf", size_bytes = 4920000000, sha256 = "%s" }]
"""


def test_artifact_of_a_known_model_is_ok(tmp_path: Path) -> None:
    write(tmp_path / "m.toml", LICENSE, model_toml())
    write(tmp_path / "artifacts" / "a.toml", ARTIFACT % ("ab" * 32))
    report = validate(tmp_path)
    assert report.ok, report.lines()
    assert report.artifacts == 1
    cat = load_catalog([tmp_path], replace=True)
    (art,) = cat.artifacts_for("test-model")
    assert (art.size_bytes, art.files[0].sha256) == (4920000000, "ab" * 32)


def test_artifact_naming_an_unknown_model(tmp_path: Path) -> None:
    write(tmp_path / "m.toml", LICENSE, model_toml())
    path = write(tmp_path / "a.toml", (ARTIFACT % ("ab" * 32)).replace("test-model", "tset-model"))
    line = only_problem(validate(tmp_path))
    assert "unknown model 'tset-model'" in line and "test-model" in line
    assert line.startswith(f"{path}:{line_of(path, 'model =')}:")


def test_artifact_with_a_short_hash(tmp_path: Path) -> None:
    write(tmp_path / "m.toml", LICENSE, model_toml())
    write(tmp_path / "a.toml", ARTIFACT % "abc123")
    assert "sha256" in only_problem(validate(tmp_path))
