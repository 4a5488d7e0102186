"""Pinned, source-checked facts of the DeepSeek, Kimi, GLM, MiniMax, Nemotron, OLMo, Arcee and
Granite catalog entries, so an edit that drifts from the primary source fails loudly.

Each block names the primary source the pinned values were read from.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from selector.catalog.schema import CatalogFile, ModelEntry
from selector.vocab import Architecture

MODELS_DIR = Path(__file__).resolve().parents[1] / "catalog" / "models"
FAMILY_FILES = ("deepseek", "kimi", "glm", "minimax", "nemotron", "olmo", "arcee", "granite")


def _load(stem: str) -> dict[str, ModelEntry]:
    """Validate one family file against the schema, without needing licenses.toml."""
    data = tomllib.loads((MODELS_DIR / f"{stem}.toml").read_text(encoding="utf-8"))
    return {m.id: m for m in CatalogFile.model_validate(data).model}


@pytest.fixture(scope="module")
def models() -> dict[str, ModelEntry]:
    out: dict[str, ModelEntry] = {}
    for stem in FAMILY_FILES:
        entries = _load(stem)
        assert not set(entries) & set(out), f"duplicate id in {stem}.toml"
        out.update(entries)
    return out


def test_every_family_file_has_sourced_entries(models: dict[str, ModelEntry]) -> None:
    for stem in FAMILY_FILES:
        entries = _load(stem)
        assert entries, f"{stem}.toml has no model"
        for entry in entries.values():
            assert entry.sources, entry.id
        assert len(models) >= 20


def test_entries_in_the_20_to_40b_band(models: dict[str, ModelEntry]) -> None:
    band = {m.id for m in models.values() if 20 <= m.params_b <= 40}
    assert {
        "deepseek-r1-distill-qwen-32b",
        "glm-4.7-flash",
        "nemotron-3-nano-30b-a3b",
        "olmo-3-32b-think",
        "granite-4.0-h-small",
        "trinity-mini",
    } <= band


# DeepSeek-V3 README + inference/configs/config_671B.json
# https://github.com/deepseek-ai/DeepSeek-V3 ; LICENSE-MODEL governs the original V3 weights.
def test_deepseek_v3(models: dict[str, ModelEntry]) -> None:
    m = models["deepseek-v3"]
    assert (m.params_b, m.active_params_b, m.layers, m.context_tokens) == (671, 37, 61, 131072)
    assert m.attention.mla_kv_dim == 512 + 64
    assert m.moe is not None and (m.moe.experts, m.moe.experts_per_token) == (256, 8)
    assert m.license == "deepseek-model"


# https://huggingface.co/deepseek-ai/DeepSeek-V3-0324 (MIT) and
# https://huggingface.co/deepseek-ai/DeepSeek-R1-0528 (MMLU-Pro 85.0, GPQA-Diamond 81.0)
def test_deepseek_mit_checkpoints(models: dict[str, ModelEntry]) -> None:
    assert models["deepseek-v3-0324"].license == "mit"
    r1 = models["deepseek-r1-0528"]
    assert r1.license == "mit"
    scores = {b.name: b.score for b in r1.benchmarks}
    assert scores["MMLU-Pro"] == 85.0 and scores["GPQA-Diamond"] == 81.0


# https://github.com/deepseek-ai/DeepSeek-R1 section 7: distill licenses follow the base models.
def test_deepseek_distills_follow_base_licenses(models: dict[str, ModelEntry]) -> None:
    qwen = models["deepseek-r1-distill-qwen-32b"]
    assert (qwen.license, qwen.layers, qwen.attention.kv_heads) == ("apache-2.0", 64, 8)
    assert qwen.architecture is Architecture.DENSE
    assert models["deepseek-r1-distill-llama-70b"].license == "llama-3.3"


# https://github.com/MoonshotAI/Kimi-K2 and https://github.com/MoonshotAI/Kimi-K2.5 model summaries
def test_kimi(models: dict[str, ModelEntry]) -> None:
    k2 = models["kimi-k2-instruct"]
    assert (k2.params_b, k2.active_params_b, k2.layers, k2.context_tokens) == (1000, 32, 61, 131072)
    assert k2.moe is not None and (k2.moe.experts, k2.moe.experts_per_token) == (384, 8)
    assert k2.license == "kimi-modified-mit"
    k25 = models["kimi-k2.5"]
    assert k25.context_tokens == 262144 and "vision" in {c.value for c in k25.capabilities}


# https://github.com/zai-org/GLM-4.5 README (355B-A32B, 106B-A12B, MIT) and
# https://huggingface.co/zai-org/GLM-4.7-Flash ("30B-A3B MoE", MIT, SWE-bench Verified 59.2)
def test_glm(models: dict[str, ModelEntry]) -> None:
    assert (models["glm-4.5"].params_b, models["glm-4.5"].active_params_b) == (355, 32)
    air = models["glm-4.5-air"]
    assert (air.params_b, air.active_params_b, air.layers, air.license) == (106, 12, 46, "mit")
    flash = models["glm-4.7-flash"]
    assert (flash.layers, flash.context_tokens, flash.gguf_arch) == (47, 202752, "deepseek2")
    assert flash.moe is not None and (flash.moe.experts, flash.moe.experts_per_token) == (64, 4)
    assert {b.name: b.score for b in flash.benchmarks}["SWE-bench Verified"] == 59.2
    # https://github.com/zai-org/GLM-5 README: 744B-A40B
    assert (models["glm-5"].params_b, models["glm-5"].active_params_b) == (744, 40)


# https://github.com/MiniMax-AI/MiniMax-M2 (230B/10B, MIT); MiniMax-M2.5 LICENSE at first commit
# (MIT + "MiniMax M2.5" UI display); MiniMax-M2.7 PR #5 (non-commercial weights license).
def test_minimax_license_versions(models: dict[str, ModelEntry]) -> None:
    m2 = models["minimax-m2"]
    assert (m2.params_b, m2.active_params_b, m2.layers, m2.license) == (230, 10, 62, "mit")
    assert models["minimax-m2.5"].license == "minimax-m2.5"
    assert models["minimax-m2.7"].license == "minimax-non-commercial"


# https://github.com/NVIDIA-NeMo/Nemotron docs/nemotron/nano3/README.md (31.6B total, 1M context)
# and https://huggingface.co/nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 (6 attention of 52 layers)
def test_nemotron_nano_hybrid(models: dict[str, ModelEntry]) -> None:
    m = models["nemotron-3-nano-30b-a3b"]
    assert m.architecture is Architecture.HYBRID
    assert (m.params_b, m.layers, m.global_layers, m.attention.kv_heads) == (31.6, 52, 6, 2)
    assert m.context_tokens == 1048576 and m.gguf_arch == "nemotron_h_moe"


# Megatron-Bridge Nemotron3SuperProvider (88-layer hybrid_override_pattern: 40 M, 40 E, 8 *;
# 32 Q / 2 KV groups of 128; 512 experts, top-22):
# https://github.com/NVIDIA-NeMo/Megatron-Bridge/blob/main/src/megatron/bridge/models/nemotronh/nemotron_h_provider.py
# 120.6B / 12.7B: https://github.com/NVIDIA-NeMo/Nemotron/blob/main/docs/nemotron/super3/README.md
# License and release date: https://huggingface.co/nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4
def test_nemotron_super_hybrid(models: dict[str, ModelEntry]) -> None:
    m = models["nemotron-3-super-120b-a12b"]
    assert m.architecture is Architecture.HYBRID
    assert (m.params_b, m.active_params_b, m.layers, m.global_layers) == (120.6, 12.7, 88, 8)
    att = m.attention
    assert (att.heads, att.kv_heads, att.head_dim) == (32, 2, 128)
    assert m.moe is not None and (m.moe.experts, m.moe.experts_per_token) == (512, 22)
    assert m.license == "nvidia-nemotron-open-model"
    assert m.release_date.isoformat() == "2026-03-11"


# HF config.json as tabulated by NVIDIA (108 layers = 48 Mamba-2 + 48 MoE + 12 attention;
# 64 Q / 2 KV of 128; 512 experts, top-22; config max context 262,144):
# https://github.com/NVIDIA-NeMo/Nemotron/blob/main/usage-cookbook/Nemotron-3-Ultra/nemotron3-ultra-post-training-sizing.md
# License (OpenMDW-1.1) and release date are secondary only, so they must stay marked unverified.
def test_nemotron_ultra_hybrid(models: dict[str, ModelEntry]) -> None:
    m = models["nemotron-3-ultra-550b-a55b"]
    assert m.architecture is Architecture.HYBRID
    assert (m.params_b, m.active_params_b, m.layers, m.global_layers) == (550, 55, 108, 12)
    att = m.attention
    assert (att.heads, att.kv_heads, att.head_dim) == (64, 2, 128)
    assert m.moe is not None and (m.moe.experts, m.moe.experts_per_token) == (512, 22)
    assert m.context_tokens == 262144
    assert {"license", "release_date"} <= set(m.unverified)


# OLMo-core TransformerConfig.olmo2_32B / olmo3_32B / olmo3_7B (github.com/allenai/OLMo-core);
# sliding window 4096 on 3 of 4 layers, Olmo 3 context 65,536 (https://allenai.org/blog/olmo3)
def test_olmo(models: dict[str, ModelEntry]) -> None:
    think = models["olmo-3-32b-think"]
    assert (think.layers, think.attention.heads, think.attention.kv_heads) == (64, 40, 8)
    assert (think.global_layers, think.attention.sliding_layers) == (16, 48)
    assert think.context_tokens == 65536 and think.license == "apache-2.0"
    assert models["olmo-3-7b-instruct"].global_layers == 8
    assert models["olmo-2-32b-instruct"].attention.sliding_layers == 0


# arXiv 2602.17004 (Trinity Mini 26B total / 3B active) + Trinity-Mini config.json
def test_trinity_mini(models: dict[str, ModelEntry]) -> None:
    m = models["trinity-mini"]
    assert (m.params_b, m.active_params_b, m.layers, m.gguf_arch) == (26, 3, 32, "afmoe")
    assert (m.global_layers, m.attention.sliding_window) == (8, 2048)


# IBM Granite 4.0 model-card architecture table, e.g.
# https://huggingface.co/ibm-granite/granite-4.0-h-small
def test_granite(models: dict[str, ModelEntry]) -> None:
    small = models["granite-4.0-h-small"]
    assert (small.params_b, small.active_params_b, small.layers, small.global_layers) == (
        32,
        9,
        40,
        4,
    )
    assert small.moe is not None and (small.moe.experts, small.moe.experts_per_token) == (72, 10)
    tiny = models["granite-4.0-h-tiny"]
    assert (tiny.attention.heads, tiny.attention.kv_heads, tiny.active_params_b) == (12, 4, 1)
    assert models["granite-4.0-h-micro"].moe is None
    assert models["granite-4.0-micro"].architecture is Architecture.DENSE
    assert all(
        models[i].license == "apache-2.0" and models[i].context_tokens == 131072
        for i in ("granite-4.0-h-small", "granite-4.0-h-tiny", "granite-4.0-micro")
    )
