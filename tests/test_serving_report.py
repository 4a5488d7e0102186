"""Precision costs in the quality term, and the serving lines of the Markdown checklist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.cli import app
from selector.fit import Fit
from selector.fit.precision import (
    GGUF_LADDER,
    normalize_quantization,
    quality_cost,
    quantization_family,
)
from selector.ranking import Term, apply_quantization_cost

runner = CliRunner()


def test_gguf_costs_come_from_the_llama_cpp_scoreboard_and_grow_down_the_ladder() -> None:
    q4 = quality_cost("Q4_K_M")
    assert q4.cost == pytest.approx(0.00596)
    assert "perplexity/README.md" in q4.basis and "KLD 0.0313" in q4.basis
    costs = [quality_cost(q).cost for q in ("Q8_0", "Q5_K_M", "Q4_K_M", "Q3_K_M", "IQ2_XXS")]
    assert costs == sorted(costs)
    assert all(q in ("Q8_0", "Q2_K") or quality_cost(q).cost > 0 for q in GGUF_LADDER)


def test_serving_costs_cite_their_measurement() -> None:
    assert quality_cost("BF16").cost == 0
    fp8 = quality_cost("FP8")
    assert 0 < fp8.cost < 0.001 and "99.97%" in fp8.basis
    assert quality_cost("AWQ-INT4").cost > fp8.cost
    assert quality_cost("MXFP4", native=True).cost == 0


@pytest.mark.parametrize(
    ("text", "canonical", "family"),
    [
        ("auto", "auto", None),
        ("q4_k_m", "Q4_K_M", "gguf"),
        ("fp8", "FP8", "serving"),
        ("awq", "AWQ-INT4", "serving"),
        ("bf16", "BF16", "both"),
        ("mxfp4", "MXFP4", "both"),
    ],
)
def test_quantization_names(text: str, canonical: str, family: str | None) -> None:
    assert normalize_quantization(text) == canonical
    if family:
        assert quantization_family(canonical) == family


def test_quality_term_is_lowered_by_the_precision_cost() -> None:
    term = Term(0.6, "mean of MMLU-Pro 60")
    fit = Fit(
        quantization="Q3_K_M",
        memory_gb=1,
        placement="cpu",
        fits=True,
        precision="Q3_K_M",
        quality_cost=0.0199,
    )
    out = apply_quantization_cost(term, fit)
    assert out.value == pytest.approx(0.6 * (1 - 0.0199))
    assert "Q3_K_M" in out.why and out.why.startswith("mean of MMLU-Pro 60")
    bf16 = fit.model_copy(update={"quality_cost": 0.0, "precision": "BF16"})
    assert apply_quantization_cost(term, bf16) == term


def test_markdown_gives_the_launch_command_of_the_chosen_engine(repo_root: Path) -> None:
    server = repo_root / "examples" / "multi-gpu-server.toml"
    result = runner.invoke(
        app, ["recommend", str(server), "--no-smoke", "--format", "markdown", "--top", "3"]
    )
    assert result.exit_code == 0, result.output
    launches = [line for line in result.stdout.splitlines() if "Launch:" in line]
    assert len(launches) == 3
    assert all("`vllm serve " in line and "--tensor-parallel-size" in line for line in launches)
    assert all("--max-model-len 65536" in line for line in launches)
    assert "- engine: vllm" in result.stdout and "layout: TP" in result.stdout

    laptop = repo_root / "examples" / "cpu-laptop.toml"
    result = runner.invoke(
        app, ["recommend", str(laptop), "--no-smoke", "--format", "markdown", "--top", "1"]
    )
    assert "`llama-server -m " in result.stdout and " -c 4096`" in result.stdout


def test_json_report_carries_the_serving_fields(repo_root: Path) -> None:
    server = repo_root / "examples" / "multi-gpu-server.toml"
    result = runner.invoke(
        app, ["recommend", str(server), "--no-smoke", "--format", "json", "--top", "1"]
    )
    fit = json.loads(result.stdout)["candidates"][0]["fit"]
    for key in (
        "engine",
        "precision",
        "tensor_parallel",
        "pipeline_parallel",
        "data_parallel",
        "kv_capacity_tokens",
        "max_concurrency",
        "gpu_memory_utilization",
        "engine_reason",
        "quality_basis",
    ):
        assert fit[key] not in (None, ""), key
    requirements = json.loads(result.stdout)["requirements"]
    assert requirements["deployment"]["engine"] == "auto"
    assert requirements["use_case"]["concurrent_sessions"] == 1
