"""Engine, precision and layout per candidate (selector/fit/deploy.py), and the shipped examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.catalog import load_catalog
from selector.catalog.schema import Artifact
from selector.cli import app
from selector.fit.deploy import (
    Deployment,
    choose_engine,
    layouts,
    plan_deployment,
    published_first,
    published_presets,
    serving_options,
)
from selector.fit.estimate import estimate_fit
from selector.fit.memory import RuntimeSettings
from selector.fit.precision import GGUF_LADDER, quality_cost
from selector.hardware import GPUSlot, HardwareProfile

runner = CliRunner()
CATALOG = load_catalog()


def hw(*slots: GPUSlot, ram: float = 0.0) -> HardwareProfile:
    return HardwareProfile(source="declared", ram_gb=ram, cpu_cores=8, gpus=list(slots))


def slot(segment: str | None, count: int = 1, vram: float = 80, **over: object) -> GPUSlot:
    base: dict[str, object] = {
        "model": f"{segment} GPU",
        "vram_gb": vram,
        "count": count,
        "bandwidth_gb_s": 2000,
        "fp16_tflops": 400,
        "segment": segment,
    }
    base.update(over)
    return GPUSlot(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- engine


@pytest.mark.parametrize(
    ("profile", "engine", "why"),
    [
        (hw(ram=16), "llama.cpp", "CPU only"),
        (hw(slot("apple", unified_memory=True)), "llama.cpp", "Apple"),
        (hw(slot("datacenter", 2)), "vllm", "datacenter"),
        (hw(slot("workstation")), "vllm", "workstation"),
        (hw(slot("consumer", vram=24)), "llama.cpp", "single consumer GPU"),
        (hw(slot("consumer", 2, vram=24)), "vllm", "2 GPUs"),
        (hw(slot(None, vram=24)), "llama.cpp", "unknown class"),
    ],
)
def test_auto_engine_follows_the_hardware(profile: HardwareProfile, engine: str, why: str) -> None:
    chosen, reason = choose_engine(profile, Deployment())
    assert chosen == engine
    assert why in reason


def test_a_fixed_quantization_or_engine_decides() -> None:
    dc = hw(slot("datacenter"))
    assert choose_engine(dc, Deployment(quantization="Q4_K_M"))[0] == "llama.cpp"
    assert choose_engine(hw(slot("consumer", vram=24)), Deployment(quantization="FP8"))[0] == (
        "vllm"
    )
    assert choose_engine(dc, Deployment(engine="sglang")) == (
        "sglang",
        "[deployment] engine = 'sglang'",
    )


# ---------------------------------------------------------------- checkpoints


def art(model: str, quant: str, repo: str) -> Artifact:
    return Artifact(
        model=model,
        format="safetensors",
        quantization=quant,
        repo=repo,
        source="https://example.org",  # type: ignore[arg-type]
    )


def test_options_are_the_checkpoints_that_exist_best_first() -> None:
    model = CATALOG.models["qwen3-32b"]
    options = serving_options(
        model, [art(model.id, "AWQ-INT4", "Q/awq"), art(model.id, "FP8", "Q/fp8")]
    )
    assert [(o.precision, o.repo) for o in options] == [
        ("BF16", model.hf_repo),
        ("FP8", "Q/fp8"),
        ("AWQ-INT4", "Q/awq"),
    ]
    # no FP8 checkpoint: vLLM quantizes the 16-bit one at load
    bare = serving_options(model, [])
    assert [(o.precision, o.online) for o in bare] == [("BF16", None), ("FP8", "fp8")]


def test_a_model_released_in_mxfp4_is_only_served_in_it() -> None:
    model = CATALOG.models["gpt-oss-120b"]
    options = serving_options(model, CATALOG.artifacts_for(model.id))
    assert [(o.precision, o.native) for o in options] == [("MXFP4", True)]
    assert quality_cost("MXFP4", native=True).cost == 0


def test_layouts_need_tp_to_divide_the_heads_and_prefer_tp_to_pp() -> None:
    model = CATALOG.models["llama-3.1-70b"]  # 64 heads, 8 KV heads
    assert layouts(model, 8, Deployment())[:5] == [(1, 1), (2, 1), (4, 1), (8, 1), (1, 2)]
    assert layouts(model, 8, Deployment(tensor_parallel=3)) == []
    assert layouts(model, 16, Deployment(tensor_parallel=8)) == [(8, 1), (8, 2)]


# ---------------------------------------------------------------- plans


H100X8 = hw(
    GPUSlot(
        model="H100 SXM",
        vram_gb=80,
        count=8,
        bandwidth_gb_s=3350,
        fp16_tflops=989.5,
        catalog_id="h100-sxm",
        segment="datacenter",
    ),
    ram=2048,
)


def test_smallest_layout_that_holds_the_sessions_is_chosen() -> None:
    model = CATALOG.models["llama-3.1-70b"]
    one = plan_deployment(model, H100X8, Deployment(context_tokens=32_768)).fit
    # TP 2 holds the weights but not a 32k session beside H100's 1024-sequence sampler reserve
    assert (one.engine, one.precision, one.tensor_parallel, one.data_parallel) == (
        "vllm",
        "BF16",
        4,
        2,
    )
    assert one.max_concurrency and one.max_concurrency >= 1
    many = plan_deployment(model, H100X8, Deployment(context_tokens=32_768, sessions=40)).fit
    assert many.max_concurrency is not None
    assert many.max_concurrency * (many.data_parallel or 1) >= 40
    assert (many.precision, many.tensor_parallel) == ("FP8", 8)  # BF16 on 8 GPUs holds < 40
    assert "BF16 did not" in many.precision_reason
    assert (many.estimated_decode_tokens_per_s or 0) < (one.estimated_decode_tokens_per_s or 0)
    too_many = plan_deployment(model, H100X8, Deployment(context_tokens=32_768, sessions=500))
    assert "holds the most" in too_many.fit.precision_reason


def test_lower_precision_when_the_best_one_cannot_hold_the_load() -> None:
    model = CATALOG.models["llama-3.1-70b"]
    one_gpu = hw(slot("datacenter", 1, vram=80, catalog_id="h100-sxm"))
    fit = plan_deployment(
        model, one_gpu, Deployment(context_tokens=8192), CATALOG.artifacts_for(model.id)
    ).fit
    assert fit.fits and fit.precision in ("INT8", "GPTQ-INT4")
    assert "BF16" in fit.precision_reason and "FP8" in fit.precision_reason
    assert fit.quality_cost and fit.quality_cost > 0


def test_a_model_that_fits_nowhere_says_why() -> None:
    model = CATALOG.models["deepseek-v3"]
    fit = plan_deployment(
        model, hw(slot("datacenter", 2)), Deployment(), CATALOG.artifacts_for(model.id)
    ).fit
    assert not fit.fits and fit.engine == "vllm" and fit.precision == "FP8"
    assert "KV cache" in fit.notes[-1]


def test_llama_cpp_walks_the_gguf_ladder_to_the_first_that_fits_and_is_fast_enough() -> None:
    laptop = HardwareProfile(source="declared", ram_gb=16, cpu_cores=8, ram_bandwidth_gb_s=60)
    model = CATALOG.models["qwen3-8b"]
    d = Deployment(context_tokens=4096, min_decode_tokens_per_s=5)
    fit = plan_deployment(model, laptop, d).fit
    assert fit.engine == "llama.cpp" and fit.precision in GGUF_LADDER
    chosen = GGUF_LADDER.index(fit.precision)
    assert chosen > 0  # Q8_0 is too slow at 60 GB/s
    for better in GGUF_LADDER[:chosen]:  # every better preset fails a target
        f = estimate_fit(model, laptop, quantization=better, context_tokens=4096)
        assert not f.fits or (f.estimated_decode_tokens_per_s or 0) < 5
    assert "did not" in fit.precision_reason and "llama.cpp" in fit.quality_basis


def test_sessions_multiply_the_llama_cpp_kv_cache() -> None:
    model = CATALOG.models["qwen3-8b"]
    box = HardwareProfile(source="declared", ram_gb=64, cpu_cores=8)
    one = estimate_fit(model, box, quantization="Q4_K_M", context_tokens=8192)
    four = estimate_fit(
        model,
        box,
        quantization="Q4_K_M",
        context_tokens=8192,
        runtime=RuntimeSettings(n_seq=4),
    )
    assert four.kv_cache_gb == pytest.approx(4 * one.kv_cache_gb, rel=0.01)
    assert (four.estimated_decode_tokens_per_s or 0) < (one.estimated_decode_tokens_per_s or 0)


def test_gpt_oss_is_sized_in_mxfp4_even_with_a_fixed_gguf_quantization() -> None:
    model = CATALOG.models["gpt-oss-20b"]
    box = HardwareProfile(source="declared", ram_gb=64, cpu_cores=8)
    fit = plan_deployment(
        model, box, Deployment(quantization="Q4_K_M"), CATALOG.artifacts_for(model.id)
    ).fit
    assert fit.quantization == "MXFP4" and fit.quality_cost == 0


# ---------------------------------------------------------------- the shipped examples


def recommend(path: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["recommend", str(path), "--no-smoke", "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_multi_gpu_server_is_served_by_vllm_at_bf16_or_fp8(repo_root: Path) -> None:
    report = recommend(repo_root / "examples" / "multi-gpu-server.toml")
    top = report["candidates"][:5]
    assert len(top) == 5
    for c in top:
        f = c["fit"]
        assert f["engine"] == "vllm"
        assert f["precision"] in ("BF16", "FP8")
        assert f["max_concurrency"] >= 1 and f["kv_capacity_tokens"] > 0
        assert f["tensor_parallel"] * f["pipeline_parallel"] * f["data_parallel"] <= 8
        assert "datacenter" in f["engine_reason"]


def test_cpu_laptop_is_served_by_llama_cpp_at_the_best_gguf_that_fits(repo_root: Path) -> None:
    report = recommend(repo_root / "examples" / "cpu-laptop.toml")
    top = report["candidates"][:5]
    assert top
    laptop = HardwareProfile(source="declared", ram_gb=16, cpu_cores=4, ram_bandwidth_gb_s=60)
    for c in top:
        f = c["fit"]
        assert f["engine"] == "llama.cpp" and f["placement"] == "cpu"
        assert f["memory_gb"] <= 16
        if f["precision"] not in GGUF_LADDER:  # sized in its released format (gpt-oss: MXFP4)
            assert "released format" in f["precision_reason"]
            continue
        chosen = GGUF_LADDER.index(f["precision"])
        model = CATALOG.models[c["id"]]
        published = published_presets(CATALOG.artifacts_for(model.id))
        if f["precision"] in published:
            # a published file wins over a better preset nobody uploaded
            assert "published GGUF" in f["precision_reason"]
            better_ones = [q for q in GGUF_LADDER[:chosen] if q in published]
        else:
            better_ones = list(GGUF_LADDER[:chosen])
        for better in better_ones:
            fit = estimate_fit(model, laptop, quantization=better, context_tokens=4096)
            assert not fit.fits or (fit.estimated_decode_tokens_per_s or 0) < 5


def test_a_published_gguf_is_preferred_to_a_better_preset_nobody_uploaded() -> None:
    art = next(
        a for a in CATALOG.artifacts.values() if a.format == "gguf" and a.quantization == "Q4_K_M"
    )
    ladder = published_first(GGUF_LADDER, [art])
    assert ladder[0] == "Q4_K_M"
    assert ladder[1:] == tuple(q for q in GGUF_LADDER if q != "Q4_K_M")
    assert published_first(GGUF_LADDER, []) == GGUF_LADDER


def test_a_declared_gpu_without_ram_gb_places_models(tmp_path: Path) -> None:
    # before issue 12 every model was excluded: the host share was checked against 0 GB RAM
    req = tmp_path / "req.toml"
    req.write_text('[hardware]\ngpus = [{ model = "L40S", count = 2 }]\n', encoding="utf-8")
    report = recommend(req)
    assert len(report["candidates"]) >= 10
    assert report["candidates"][0]["fit"]["engine"] == "vllm"


def test_concurrent_sessions_exclude_what_cannot_hold_them(tmp_path: Path) -> None:
    req = tmp_path / "req.toml"
    req.write_text(
        "[use_case]\ncontext_tokens = 131072\nconcurrent_sessions = 64\n"
        '[hardware]\ngpus = [{ model = "L40S", count = 1 }]\n'
        '[deployment]\nengine = "vllm"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["recommend", str(req), "--no-smoke", "--format", "json"])
    report = json.loads(result.stdout)
    messages = [r["message"] for e in report["excluded"] for r in e["reasons"]]
    assert any("concurrent_sessions = 64" in m for m in messages)
    for c in report["candidates"]:
        f = c["fit"]
        assert f["max_concurrency"] * f["data_parallel"] >= 64


def test_fixed_quantization_works_as_before(repo_root: Path) -> None:
    report = recommend(repo_root / "examples" / "server-strict-license.toml")
    assert report["candidates"]
    released_in_mxfp4 = {"gpt-oss-20b", "gpt-oss-120b"}
    quants = {
        c["fit"]["quantization"] for c in report["candidates"] if c["id"] not in released_in_mxfp4
    }
    assert quants == {"Q4_K_M"}
    assert {c["fit"]["engine"] for c in report["candidates"]} == {"llama.cpp"}


def test_prompt_tokens_and_cpu_cores_are_inputs(tmp_path: Path) -> None:
    model = CATALOG.models["qwen3-8b"]
    box = HardwareProfile(source="declared", ram_gb=64, cpu_cores=8)
    short = estimate_fit(model, box, quantization="Q4_K_M", context_tokens=8192, prompt_tokens=512)
    long = estimate_fit(model, box, quantization="Q4_K_M", context_tokens=8192, prompt_tokens=2048)
    assert long.estimated_time_to_first_token_ms == pytest.approx(
        4 * (short.estimated_time_to_first_token_ms or 0), rel=0.05
    )
    assert "2048 tokens" in long.ttft_basis
    req = tmp_path / "req.toml"
    req.write_text(
        "[hardware]\ncpu_only = true\nram_gb = 32\ncpu_cores = 6\n"
        "[latency]\nprompt_tokens = 2048\n",
        encoding="utf-8",
    )
    report = recommend(req)
    assert report["hardware"]["cpu_cores"] == 6
    assert "6 cores" in report["candidates"][0]["fit"]["ttft_basis"]
    assert "2048 tokens" in report["candidates"][0]["fit"]["ttft_basis"]
