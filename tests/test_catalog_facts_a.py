"""Pinned, source-checked facts of the Gemma, Qwen, Llama, Mistral, gpt-oss, Phi-4 and SmolLM3
catalog entries, so an edit that drifts from the primary source fails loudly.

Each block names the primary source the pinned values were read from.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from selector.catalog.schema import CatalogFile, ModelEntry
from selector.vocab import Architecture, Tuning

MODELS_DIR = Path(__file__).resolve().parents[1] / "catalog" / "models"
FAMILY_FILES = (
    "gemma-4",
    "gemma-3",
    "qwen-3",
    "qwen-3.5",
    "qwen-3.6",
    "qwen-3.8",
    "llama-3",
    "llama-4",
    "mistral",
    "gpt-oss",
    "phi-4",
    "smollm3",
)
CANONICAL_BENCHMARKS = {
    "MMLU-Pro",
    "GPQA-Diamond",
    "LiveCodeBench",
    "BFCL",
    "tau2-bench",
    "SWE-bench Verified",
    "MMLU",
    "IFEval",
    "AIME",
    "MMMLU",
}


def _load(stem: str) -> dict[str, ModelEntry]:
    """Validate one family file against the schema, without needing licenses.toml."""
    with (MODELS_DIR / f"{stem}.toml").open("rb") as fh:
        parsed = CatalogFile.model_validate(tomllib.load(fh))
    return {m.id: m for m in parsed.model}


@pytest.fixture(scope="module")
def models() -> dict[str, ModelEntry]:
    merged: dict[str, ModelEntry] = {}
    for stem in FAMILY_FILES:
        for model_id, entry in _load(stem).items():
            assert model_id not in merged, f"duplicate id {model_id}"
            merged[model_id] = entry
    return merged


def test_every_entry_is_sourced_and_uses_an_agreed_license(models: dict[str, ModelEntry]) -> None:
    assert len(models) >= 25
    for entry in models.values():
        assert entry.sources, entry.id
        for bench in entry.benchmarks:
            assert bench.name in CANONICAL_BENCHMARKS, (entry.id, bench.name)


def test_structure_matches_architecture(models: dict[str, ModelEntry]) -> None:
    for entry in models.values():
        if entry.architecture is Architecture.MOE:
            assert entry.moe is not None and entry.active_params_b is not None, entry.id
        if entry.architecture is Architecture.HYBRID:
            # Hybrids keep most layers as linear attention: fewer KV layers than layers.
            assert entry.global_layers < entry.layers, entry.id


def test_many_candidates_in_the_20_to_40b_band(models: dict[str, ModelEntry]) -> None:
    in_band = [m.id for m in models.values() if 20 <= m.params_b <= 40]
    assert len(in_band) >= 10, in_band


def test_gemma_4(models: dict[str, ModelEntry]) -> None:
    # github.com/google-deepmind/gemma gemma/gm/nn/gemma4/_gemma4.py and _config.py
    big = models["gemma-4-31b"]
    assert (big.layers, big.hidden_size) == (60, 5376)
    att = big.attention
    assert (att.global_layers, att.sliding_layers, att.sliding_window) == (10, 50, 1024)
    assert (att.kv_heads, att.head_dim, att.sliding_kv_heads, att.sliding_head_dim) == (
        4,
        512,
        16,
        256,
    )
    assert att.shared_kv
    # Model card huggingface.co/google/gemma-4-31B-it (via build.nvidia.com): 30.7B, 256K, Apache
    assert big.params_b == 30.7
    assert big.context_tokens == 262144
    assert big.license == "apache-2.0"
    moe = models["gemma-4-26b-a4b"]
    assert moe.moe is not None
    assert (moe.moe.experts, moe.moe.experts_per_token) == (128, 8)
    assert (moe.layers, moe.params_b, moe.active_params_b) == (30, 25.2, 3.8)
    # E2B: 35 layers, last 20 share the KV cache of earlier layers (frac_shared_layers=20/35)
    e2b = models["gemma-4-e2b"]
    assert e2b.layers == 35
    assert (e2b.attention.global_layers, e2b.attention.sliding_layers) == (3, 12)
    assert models["gemma-4-e4b"].context_tokens == 131072  # ai.google.dev/gemma/docs/core: 128K


def test_gemma_3(models: dict[str, ModelEntry]) -> None:
    # github.com/google-deepmind/gemma gemma/gm/nn/_gemma.py (5 local : 1 global)
    g27 = models["gemma-3-27b"]
    assert (g27.layers, g27.attention.heads, g27.attention.kv_heads, g27.attention.head_dim) == (
        62,
        32,
        16,
        128,
    )
    assert (g27.attention.global_layers, g27.attention.sliding_layers) == (10, 52)
    assert g27.license == "gemma"
    # arXiv 2503.19786 Table 1: 417M + 1,416M + 25,600M parameters; 128K context
    assert g27.params_b == 27.4
    assert g27.context_tokens == 131072
    assert models["gemma-3-1b"].context_tokens == 32768
    # The demo runs the base 270M GGUF.
    small = models["gemma-3-270m"]
    assert small.tuning is Tuning.BASE
    assert "gemma-3-270m-q4_k_m.gguf" in small.gguf_files


def test_qwen_3(models: dict[str, ModelEntry]) -> None:
    # huggingface.co/Qwen/Qwen3-32B card: 32.8B, 64 layers, 64 Q / 8 KV, 32,768 native
    q32 = models["qwen3-32b"]
    assert (q32.params_b, q32.layers, q32.attention.heads, q32.attention.kv_heads) == (
        32.8,
        64,
        64,
        8,
    )
    assert q32.context_tokens == 32768
    # huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507 card: 30.5B / 3.3B, 128 experts top-8, 262,144
    q30 = models["qwen3-30b-a3b-instruct-2507"]
    assert (q30.params_b, q30.active_params_b) == (30.5, 3.3)
    assert q30.moe is not None and (q30.moe.experts, q30.moe.experts_per_token) == (128, 8)
    assert q30.context_tokens == 262144
    # arXiv 2505.09388 abstract: all Qwen3 models under Apache 2.0
    assert {m.license for m in models.values() if m.family == "qwen-3"} == {"apache-2.0"}
    assert models["qwen3-235b-a22b-instruct-2507"].layers == 94


def test_qwen_35_and_successors(models: dict[str, ModelEntry]) -> None:
    # huggingface.co/Qwen/Qwen3.5-27B card: 16 x (3 GDN + 1 gated attention), 24 Q / 4 KV of 256
    q27 = models["qwen3.5-27b"]
    assert q27.architecture is Architecture.HYBRID
    assert (q27.layers, q27.attention.global_layers) == (64, 16)
    assert (q27.attention.heads, q27.attention.kv_heads, q27.attention.head_dim) == (24, 4, 256)
    # huggingface.co/Qwen/Qwen3.5-397B-A17B card: 512 experts, 10 routed + 1 shared, 60 layers
    big = models["qwen3.5-397b-a17b"]
    assert big.moe is not None
    assert (big.moe.experts, big.moe.experts_per_token, big.moe.shared_experts) == (512, 10, 1)
    assert (big.layers, big.attention.global_layers) == (60, 15)
    # huggingface.co/Qwen/Qwen3.6-35B-A3B card: 40 layers, 10 full-attention, 256 experts 8+1
    q36 = models["qwen3.6-35b-a3b"]
    assert (q36.layers, q36.attention.global_layers, q36.active_params_b) == (40, 10, 3)
    assert models["qwen3.8-27b"].gguf_arch == "qwen35"


def test_llama(models: dict[str, ModelEntry]) -> None:
    # github.com/meta-llama/llama-models models/llama3_1/api/sku_list.py
    l8 = models["llama-3.1-8b"]
    assert (l8.layers, l8.attention.heads, l8.attention.kv_heads, l8.attention.head_dim) == (
        32,
        32,
        8,
        128,
    )
    assert l8.context_tokens == 131072
    assert l8.license == "llama-3.1"
    assert (models["llama-3.1-405b"].layers, models["llama-3.1-405b"].attention.heads) == (126, 128)
    # models/llama3_3/MODEL_CARD.md: released 2024-12-06, Llama 3.3 license, GPQA Diamond 50.5
    l33 = models["llama-3.3-70b"]
    assert l33.license == "llama-3.3"
    assert str(l33.release_date) == "2024-12-06"
    assert any(b.name == "GPQA-Diamond" and b.score == 50.5 for b in l33.benchmarks)
    # models/llama4/MODEL_CARD.md: Scout 109B / 17B active, 16 experts; Maverick 400B, 128 experts
    scout, maverick = models["llama-4-scout"], models["llama-4-maverick"]
    assert (scout.params_b, scout.active_params_b, scout.license) == (109, 17, "llama-4")
    assert scout.moe is not None and scout.moe.experts == 16
    assert maverick.moe is not None and (maverick.params_b, maverick.moe.experts) == (400, 128)


def test_gpt_oss(models: dict[str, ModelEntry]) -> None:
    # github.com/openai/gpt-oss README (21B / 3.6B, 117B / 5.1B) and gpt_oss/torch/model.py
    small, large = models["gpt-oss-20b"], models["gpt-oss-120b"]
    assert (small.params_b, small.active_params_b, small.layers) == (21, 3.6, 24)
    assert (large.params_b, large.active_params_b, large.layers) == (117, 5.1, 36)
    assert small.moe is not None and (small.moe.experts, small.moe.experts_per_token) == (32, 4)
    assert large.moe is not None and large.moe.experts == 128
    # Sliding window 128 on every other layer; 64 Q / 8 KV heads of 64
    assert (large.attention.sliding_window, large.attention.sliding_layers) == (128, 18)
    assert (large.attention.heads, large.attention.kv_heads, large.attention.head_dim) == (
        64,
        8,
        64,
    )
    assert small.context_tokens == 131072
    assert small.license == "apache-2.0"


def test_mistral_phi_smollm(models: dict[str, ModelEntry]) -> None:
    # huggingface.co/mistralai/Mistral-Nemo-Base-2407 config.json: 40 layers, 32/8 heads of 128
    nemo = models["mistral-nemo-12b"]
    assert (nemo.layers, nemo.attention.kv_heads, nemo.attention.head_dim) == (40, 8, 128)
    assert nemo.context_tokens == 128000
    # Mistral Small 3.1 text_config (revision 68faf51): 40 layers, hidden 5120
    assert (
        models["mistral-small-3.2-24b"].layers,
        models["mistral-small-3.2-24b"].hidden_size,
    ) == (40, 5120)
    # huggingface.co/mistralai/Magistral-Small-2506: 'Building upon Mistral Small 3.1 (2503)', 24B,
    # Apache 2.0, 128k context; GPQA Diamond 68.18
    mag = models["magistral-small-2506"]
    assert (mag.params_b, mag.layers, mag.attention.kv_heads, mag.context_tokens) == (
        24,
        40,
        8,
        131072,
    )
    assert {b.name: b.score for b in mag.benchmarks}["GPQA-Diamond"] == 68.18
    # transformers Mistral4Config defaults (checkpoint mistralai/Mistral-Small-4-119B-2603):
    # 36 MoE layers, 32 MLA heads, kv_lora 256 + rope 64, 128 experts top-4 + 1 shared
    small4 = models["mistral-small-4-119b"]
    assert (small4.params_b, small4.layers, small4.attention.mla_kv_dim) == (119, 36, 256 + 64)
    assert small4.moe is not None
    assert (small4.moe.experts, small4.moe.experts_per_token, small4.moe.shared_experts) == (
        128,
        4,
        1,
    )
    # Card Key Features (via a capture of the card): 6.5B activated, 256k context, apache-2.0
    assert (small4.active_params_b, small4.context_tokens, small4.license) == (
        6.5,
        262144,
        "apache-2.0",
    )
    assert "active_params_b" not in small4.unverified
    # huggingface.co/microsoft/phi-4 config.json (rev 2db69c1): 40 layers, 40 Q / 10 KV; card: 16K
    phi = models["phi-4"]
    assert (phi.layers, phi.attention.heads, phi.attention.kv_heads) == (40, 40, 10)
    assert phi.context_tokens == 16384
    # huggingface.co/HuggingFaceTB/SmolLM3-3B config.json: 36 layers, 16/4 heads, 65,536 positions
    smol = models["smollm3-3b"]
    assert (smol.layers, smol.attention.heads, smol.attention.kv_heads) == (36, 16, 4)
    assert smol.context_tokens == 65536
    assert smol.gguf_arch == "smollm3"
