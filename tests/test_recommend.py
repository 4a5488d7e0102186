"""`selector recommend` end to end without smoke tests: the JSON contract, exit codes, and
expectations that follow from public facts about the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.cli import app
from selector.report.formats import OutputFormat
from selector.vocab import ReasonCode

runner = CliRunner()

SMOKE_KEYS = {
    "status",
    "reason",
    "probes_passed",
    "probes_total",
    "decode_tokens_per_s",
    "time_to_first_token_ms",
    "peak_rss_gb",
    "model_sha256",
}
CANDIDATE_KEYS = {
    "id",
    "rank",
    "score",
    "family",
    "organization",
    "origin_country",
    "params_b",
    "active_params_b",
    "license",
    "fit",
    "smoke",
    "score_breakdown",
}


def recommend_json(path: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(
        app,
        ["recommend", str(path), "--no-smoke", "--format", "json", "--no-bundled-model", *extra],
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "req.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_json_contract(repo_root: Path) -> None:
    code, report = recommend_json(repo_root / "examples" / "server-strict-license.toml")
    assert report["schema_version"] == 1
    assert report["generated_at"].endswith("Z")
    assert report["selector_version"]
    assert report["hardware"]["source"] == "declared"
    assert (
        report["hardware"]["gpus"][0] | {"model": "L40S", "count": 1}
        == report["hardware"]["gpus"][0]
    )
    assert report["hardware"]["gpus"][0]["vram_gb"] == 48
    assert report["requirements"]["size"]["target_params_b"] == 30
    for cand in report["candidates"]:
        assert set(cand) >= CANDIDATE_KEYS
        assert set(cand["smoke"]) >= SMOKE_KEYS
        assert {"quantization", "memory_gb", "placement", "estimated_decode_tokens_per_s"} <= set(
            cand["fit"]
        )
        assert cand["fit"]["placement"] in ("gpu", "cpu", "split")
        assert set(cand["score_breakdown"]) >= {
            "quality",
            "size_preference",
            "license",
            "tooling",
            "smoke",
        }
        assert cand["smoke"]["status"] == "skipped"
    ranks = [c["rank"] for c in report["candidates"]]
    assert ranks == list(range(1, len(ranks) + 1))
    scores = [c["score"] for c in report["candidates"]]
    assert scores == sorted(scores, reverse=True)
    codes = {r.value for r in ReasonCode}
    for ex in report["excluded"]:
        assert ex["reasons"], ex
        for reason in ex["reasons"]:
            assert reason["code"] in codes
            assert reason["message"]
    assert code == (0 if report["candidates"] else 1)


def test_strict_license_on_one_48gb_gpu(repo_root: Path) -> None:
    """Public facts: Llama licenses are not Apache/MIT; a 70B+ dense model needs > 48 GB at Q4."""
    req = repo_root / "examples" / "server-strict-license.toml"
    _, report = recommend_json(req)
    assert report["candidates"], "some Apache/MIT model must fit one L40S"
    from selector.catalog import load_catalog

    license_of = {m.id: m.license for m in load_catalog().models.values()}
    assert not [c for c in report["candidates"] if license_of[c["id"]].startswith("llama")]
    assert {c["license"] for c in report["candidates"]} <= {"Apache-2.0", "MIT"}
    excluded = {e["id"]: e for e in report["excluded"]}
    llamas = [e for e in excluded.values() if license_of[e["id"]].startswith("llama")]
    assert llamas and all(any(r["code"] == "license" for r in e["reasons"]) for e in llamas)
    # Every reason is listed, not only the first: a 70B Llama fails license AND fit.
    for model_id in ("llama-3.3-70b", "llama-3.1-70b"):
        if model_id in excluded:
            codes = {r["code"] for r in excluded[model_id]["reasons"]}
            assert {"license", "fit", "size"} <= codes, excluded[model_id]


def test_70b_dense_models_do_not_fit_one_48gb_gpu(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[use_case]\ncontext_tokens = 32768\n[hardware]\ngpus = [{ model = "L40S" }]\n'
    )
    _, report = recommend_json(path)
    from selector.catalog import load_catalog

    big_dense = [
        m
        for m in load_catalog().models.values()
        if m.architecture.value == "dense" and m.params_b >= 70
    ]
    assert big_dense
    excluded = {e["id"]: {r["code"] for r in e["reasons"]} for e in report["excluded"]}
    for model in big_dense:
        assert "fit" in excluded.get(model.id, set()), model.id


def test_no_30b_model_fits_a_16gb_cpu_laptop(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[hardware]\ncpu_only = true\nram_gb = 16\n[size]\nquantization = "Q4_K_M"\n'
    )
    _, report = recommend_json(path)
    fitting = [c for c in report["candidates"] if 25 <= c["params_b"] <= 40]
    assert fitting == []
    assert all(c["fit"]["placement"] == "cpu" for c in report["candidates"])
    excluded = {e["id"]: {r["code"] for r in e["reasons"]} for e in report["excluded"]}
    thirty = [i for i, e in excluded.items() if "fit" in e]
    assert thirty, "the ~30B models must be excluded for fit"


def test_default_size_preference_puts_a_20_to_40b_model_first(repo_root: Path) -> None:
    _, report = recommend_json(repo_root / "examples" / "multi-gpu-server.toml")
    assert report["candidates"]
    top = report["candidates"][0]
    assert 20 <= top["params_b"] <= 40, top["id"]


def test_target_params_moves_the_size_centre(tmp_path: Path) -> None:
    text = (
        '[hardware]\ngpus = [{ model = "H100 SXM", count = 8 }]\nram_gb = 2048\n'
        "[size]\ntarget_params_b = {t}\n"
    )
    _, small = recommend_json(write(tmp_path, text.replace("{t}", "4")))
    _, large = recommend_json(write(tmp_path, text.replace("{t}", "400")))
    assert small["candidates"][0]["params_b"] < large["candidates"][0]["params_b"]


def test_no_survivor_exits_1_and_still_reports_exclusions(tmp_path: Path) -> None:
    path = write(tmp_path, "[size]\nmax_params_b = 0.001\n")
    code, report = recommend_json(path)
    assert code == 1
    assert report["candidates"] == []
    assert all(any(r["code"] == "size" for r in e["reasons"]) for e in report["excluded"])


def test_origin_and_capability_filters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[origin]\nexclude_countries = ["CN"]\n[use_case]\nneeds = ["vision"]\n'
        '[hardware]\ngpus = [{ model = "H100 SXM", count = 8 }]\nram_gb = 2048\n',
    )
    _, report = recommend_json(path)
    assert all(c["origin_country"] != "CN" for c in report["candidates"])
    from selector.catalog import load_catalog

    cat = load_catalog()
    for c in report["candidates"]:
        m = cat.models[c["id"]]
        assert "vision" in c["capabilities"] or "image" in [x.value for x in m.modalities]


def test_top_limits_candidates(repo_root: Path) -> None:
    _, report = recommend_json(repo_root / "examples" / "multi-gpu-server.toml", "--top", "2")
    assert len(report["candidates"]) == 2
    assert any("--top" in n for n in report["notes"])


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders(repo_root: Path, fmt: OutputFormat, tmp_path: Path) -> None:
    out = tmp_path / f"report.{fmt.value}"
    result = runner.invoke(
        app,
        [
            "recommend",
            str(repo_root / "examples" / "server-strict-license.toml"),
            "--no-smoke",
            "--format",
            fmt.value,
            "--output",
            str(out),
        ],
    )
    assert result.exit_code in (0, 1), result.output
    assert result.stdout == ""
    text = out.read_text(encoding="utf-8")
    if fmt is OutputFormat.JSON:
        assert json.loads(text)["schema_version"] == 1
    elif fmt is OutputFormat.MARKDOWN:
        assert text.startswith("# Model selection checklist: support-agent")
        assert "License review" in text and "Why the other models were excluded" in text
    elif fmt is OutputFormat.CYCLONEDX:
        bom = json.loads(text)
        assert bom["specVersion"] == "1.6" and bom["components"]
    elif fmt is OutputFormat.HTML:
        assert text.startswith("<!DOCTYPE html>") and "Exclusions by reason" in text
    else:
        assert "candidate(s)" in text and "Excluded" in text
    assert not list(tmp_path.glob(".report*")), "no temporary file may be left behind"


def test_output_into_missing_directory_is_exit_2(repo_root: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "recommend",
            str(repo_root / "examples" / "cpu-laptop.toml"),
            "--no-smoke",
            "--output",
            str(tmp_path / "no" / "r.json"),
        ],
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_bad_format_is_a_usage_error(repo_root: Path) -> None:
    result = runner.invoke(
        app, ["recommend", str(repo_root / "examples" / "cpu-laptop.toml"), "--format", "yaml"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_extra_catalog_adds_a_private_model(tmp_path: Path, repo_root: Path) -> None:
    shipped = (repo_root / "catalog" / "models" / "gemma-3.toml").read_text(encoding="utf-8")
    private = shipped.replace('id = "gemma-3-270m"', 'id = "acme-tiny-ft"', 1)
    private = private.split("[[model]]")[0] + "[[model]]" + private.split("[[model]]")[1]
    extra = tmp_path / "private.toml"
    extra.write_text(private, encoding="utf-8")
    _, report = recommend_json(write(tmp_path, ""), "--catalog", str(extra))
    ids = {c["id"] for c in report["candidates"]} | {e["id"] for e in report["excluded"]}
    assert "acme-tiny-ft" in ids


def test_duplicate_id_in_extra_catalog_is_exit_2(tmp_path: Path, repo_root: Path) -> None:
    extra = tmp_path / "dup.toml"
    extra.write_text(
        (repo_root / "catalog" / "models" / "gemma-3.toml").read_text(), encoding="utf-8"
    )
    result = runner.invoke(
        app, ["recommend", str(write(tmp_path, "")), "--no-smoke", "--catalog", str(extra)]
    )
    assert result.exit_code == 2
    assert "duplicate model id" in result.stderr and str(extra) in result.stderr


def test_models_dir_reports_files_matching_no_catalog_entry(tmp_path: Path) -> None:
    from support.gguf_models import make_tiny_gguf

    models = tmp_path / "models"
    models.mkdir()
    make_tiny_gguf(models / "mystery-model.gguf", name="Mystery")
    result = runner.invoke(
        app,
        [
            "recommend",
            str(write(tmp_path, "")),
            "--format",
            "json",
            "--no-bundled-model",
            "--models-dir",
            str(models),
        ],
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    unmatched = {Path(u["path"]).name: u["reason"] for u in report["unmatched_files"]}
    assert unmatched.get("mystery-model.gguf")


def test_missing_models_dir_option_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["recommend", str(write(tmp_path, "")), "--models-dir", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 2
    assert "not a directory" in result.stderr


def test_replace_catalog_uses_only_the_given_files(tmp_path: Path, repo_root: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    for name in ("licenses.toml", "gpus.toml"):
        (own / name).write_text((repo_root / "catalog" / name).read_text(), encoding="utf-8")
    (own / "gemma.toml").write_text(
        (repo_root / "catalog" / "models" / "gemma-3.toml").read_text(), encoding="utf-8"
    )
    _, report = recommend_json(write(tmp_path, ""), "--catalog", str(own), "--replace-catalog")
    ids = {c["id"] for c in report["candidates"]} | {e["id"] for e in report["excluded"]}
    assert ids and all(i.startswith("gemma-3-") for i in ids)


def test_replace_catalog_without_catalog_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["recommend", str(write(tmp_path, "")), "--replace-catalog"])
    assert result.exit_code == 2
    assert "--replace-catalog needs" in result.stderr


def test_report_names_the_quality_source_prior_and_unread_licenses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[use_case]
needs = ["code"]

[hardware]
gpus = [{ model = "H100", count = 8 }]
ram_gb = 1024
""",
    )
    _, report = recommend_json(path)
    by_id = {c["id"]: c for c in report["candidates"]}
    nano = by_id["nemotron-3-nano-30b-a3b"]
    assert "legal review" in " ".join(nano["risks"])  # NVIDIA Nemotron license clauses unread
    assert nano["score_breakdown"]["license"] <= 0.95
    why = nano["score_breakdown"]["why"]
    assert "code: LiveCodeBench" in why["quality"]
    assert why["quality_source"].startswith("vendor")
    prior = by_id["olmo-3-32b-think"]
    assert prior["score_breakdown"]["why"]["quality_source"].startswith("prior")
    assert any("quality is a prior" in r for r in prior["risks"])
    gpt = by_id["gpt-oss-20b"]["score_breakdown"]["why"]
    assert "competitor (NVIDIA)" in gpt["quality_source"]
