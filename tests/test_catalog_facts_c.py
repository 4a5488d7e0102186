"""Issue 15: the corrected facts, the 2026 releases, a sourced quality figure per candidate,
license clauses that exclude what they should, and the catalog's freshness dates.

Each block names the primary source the pinned values were read from.
"""

from __future__ import annotations

import datetime as dt

import pytest

from selector.catalog import Catalog, ModelEntry, load_catalog
from selector.filtering import license_reasons
from selector.ranking import NEED_BENCHMARKS, QUALITY_BENCHMARKS, license_term, quality
from selector.requirements import Requirements
from selector.vocab import Architecture, Capability, Clause


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def scores(m: ModelEntry, name: str) -> list[float]:
    return sorted(b.score for b in m.benchmarks if b.name == name)


# ---------------------------------------------------------------- corrections


def test_glm_mla_head_dim(cat: Catalog) -> None:
    # transformers Glm4MoeLiteConfig / GlmMoeDsaConfig: qk_nope 192 + qk_rope 64, v 256,
    # kv_lora 512 -> latent 512 + 64 = 576 per layer
    for mid in ("glm-4.7-flash", "glm-5", "glm-5.1", "glm-5.2"):
        att = cat.models[mid].attention
        assert (att.head_dim, att.mla_kv_dim) == (256, 576), mid


def test_glm_5_license_context_release_confirmed(cat: Catalog) -> None:
    # HF card front matter `license: mit`; GlmMoeDsaConfig max_position_embeddings 202752;
    # zai-org/GLM-5 'add readme and bench' commit of 2026-02-11
    g5 = cat.models["glm-5"]
    assert (g5.license, g5.context_tokens, g5.release_date) == (
        "mit",
        202752,
        dt.date(2026, 2, 11),
    )
    assert not {"license", "context_tokens", "release_date"} & set(g5.unverified)


def test_qwen_35_medium_release_day(cat: Catalog) -> None:
    # QwenLM/Qwen3.5 README news: 2026-02-24 for the three medium sizes, 2026-02-16 the 397B
    for mid in ("qwen3.5-27b", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b"):
        assert cat.models[mid].release_date == dt.date(2026, 2, 24)
        assert "release_date" not in cat.models[mid].unverified
    assert cat.models["qwen3.5-397b-a17b"].release_date == dt.date(2026, 2, 16)


def test_gpt_oss_release_and_multilingual(cat: Catalog) -> None:
    # openai/gpt-oss initial commit 2025-08-05; model card evaluates MMMLU (14 languages)
    for mid in ("gpt-oss-20b", "gpt-oss-120b"):
        m = cat.models[mid]
        assert m.release_date == dt.date(2025, 8, 5) and "release_date" not in m.unverified
        assert Capability.MULTILINGUAL in m.capabilities
    # arXiv 2508.10925: GPQA Diamond (no tools, high) 80.1 / 71.5
    assert 80.1 in scores(cat.models["gpt-oss-120b"], "GPQA-Diamond")
    assert 71.5 in scores(cat.models["gpt-oss-20b"], "GPQA-Diamond")


def test_llama_acceptable_use_policies_are_field_of_use(cat: Catalog) -> None:
    # meta-llama/llama-models models/llama3_1|llama3_3|llama4/USE_POLICY.md: military, warfare,
    # nuclear industries or applications, espionage, ITAR
    for lid in ("llama-3.1", "llama-3.3", "llama-4"):
        lic = cat.licenses[lid]
        assert lic.has(Clause.FIELD_OF_USE), lid
        assert any("ITAR" in c.detail for c in lic.clauses if c.kind is Clause.FIELD_OF_USE)


def test_minimax_m27_license_renamed_and_amended(cat: Catalog) -> None:
    # MiniMax-AI/MiniMax-M2.7: 7a0eb6d (2026-04-11) LICENSE-MODEL -> LICENSE, LICENSE-CODE removed;
    # 1e267c3 (2026-04-15) adds §5 Permitted Free Uses
    lic = cat.licenses["minimax-non-commercial"]
    assert str(lic.url) == "https://github.com/MiniMax-AI/MiniMax-M2.7/blob/main/LICENSE"
    assert "2026-04-15" in lic.version and "1e267c3" in lic.version
    assert "Permitted Free Uses" in lic.notes and "no longer" in lic.notes
    assert not lic.commercial_use


def test_field_of_use_denial_excludes_llama_deepseek_and_minimax(cat: Catalog) -> None:
    req = Requirements.model_validate({"license": {"deny_clauses": ["field-of-use"]}})
    excluded = {m.id for m in cat.models.values() if license_reasons(cat.licenses[m.license], req)}
    llama = {m.id for m in cat.models.values() if m.license.startswith("llama-")}
    assert {
        "llama-3.1-8b",
        "llama-3.3-70b",
        "llama-4-scout",
        "deepseek-r1-distill-llama-70b",
    } <= llama
    assert llama <= excluded
    # DeepSeek License Agreement (V3 2412) and the MiniMax M2.7 non-commercial license
    assert {"deepseek-v3", "minimax-m2.7"} <= excluded
    # ...but not the MIT-licensed releases of the same vendors
    assert not {"deepseek-r1", "deepseek-v4-flash", "minimax-m2"} & excluded


def test_unverified_licenses(cat: Catalog) -> None:
    for lid in ("nvidia-nemotron-open-model", "openmdw-1.1", "minimax-community"):
        assert not cat.licenses[lid].clauses_verified, lid
    for lid in ("apache-2.0", "mit", "llama-3.1", "minimax-non-commercial", "deepseek-model"):
        assert cat.licenses[lid].clauses_verified, lid


# ---------------------------------------------------------------- 2026 releases


def test_deepseek_v4(cat: Catalog) -> None:
    # DeepSeek-V4-Flash card: Pro 1.6T / 49B, Flash 284B / 13B, 1M context, MIT; config copies
    # and transformers DeepseekV4Config: Flash 43 layers (2 window-only, 21 CSA, 20 HCA), Pro 61
    # (30 CSA, 31 HCA); one 512-wide KV head, window 128
    flash, pro = cat.models["deepseek-v4-flash"], cat.models["deepseek-v4-pro"]
    assert (flash.params_b, flash.active_params_b, flash.layers) == (284, 13, 43)
    assert (pro.params_b, pro.active_params_b, pro.layers) == (1600, 49, 61)
    for m, csa, hca in ((flash, 21, 20), (pro, 30, 31)):
        att = m.attention
        assert (att.kv_heads, att.head_dim, att.sliding_window, att.sliding_layers) == (
            1,
            512,
            128,
            m.layers,
        )
        assert [(c.layers, c.ratio, c.indexer_head_dim) for c in att.compressed] == [
            (csa, 4, 128),
            (hca, 128, 0),
        ]
        assert (m.context_tokens, m.license) == (1048576, "mit")
    # Comparison across Modes (Non-think / High / Max)
    assert scores(flash, "MMLU-Pro") == [83.0, 86.2, 86.4]
    assert scores(pro, "GPQA-Diamond") == [72.9, 89.1, 90.1]


def test_glm_52(cat: Catalog) -> None:
    # z.ai/blog/glm-5.2 (2026-06-16): MIT, 1M context, GPQA-Diamond 91.2; slime
    # glm5.2-744B-A40B.sh: GLM-5 backbone
    m = cat.models["glm-5.2"]
    assert (m.params_b, m.active_params_b, m.layers, m.license) == (744, 40, 78, "mit")
    assert m.release_date == dt.date(2026, 6, 16)
    assert scores(m, "GPQA-Diamond") == [91.2]


def test_minimax_m3(cat: Catalog) -> None:
    # MiniMax-M3 card: ~428B / ~23B, 128 experts 4 active, 60 layers, 1M, MiniMax Community License
    m = cat.models["minimax-m3"]
    assert (m.params_b, m.active_params_b, m.layers, m.context_tokens) == (428, 23, 60, 1048576)
    assert m.moe is not None and (m.moe.experts, m.moe.experts_per_token) == (128, 4)
    assert m.license == "minimax-community"
    gpqa = [b for b in m.benchmarks if b.name == "GPQA-Diamond"]
    assert gpqa and all(b.evaluated_as == "competitor" and b.evaluated_by == "Z.ai" for b in gpqa)


def test_granite_41(cat: Catalog) -> None:
    # ibm-granite/granite-4.1-language-models disclosures/*.json (release 04/29/2026)
    expect = {"3b": (3.4, 40, 40, 64), "8b": (8.4, 40, 32, 128), "30b": (28.9, 64, 32, 128)}
    for size, (params, layers, heads, hd) in expect.items():
        m = cat.models[f"granite-4.1-{size}"]
        assert (m.params_b, m.layers, m.attention.heads, m.attention.head_dim) == (
            params,
            layers,
            heads,
            hd,
        )
        assert m.attention.kv_heads == 8 and m.architecture is Architecture.DENSE
        assert (m.license, m.release_date) == ("apache-2.0", dt.date(2026, 4, 29))


def test_nemotron_35_lightning(cat: Catalog) -> None:
    # NVIDIA-NeMo/Nemotron lightning35 recipe README + Megatron-Bridge provider; OpenMDW-1.1
    m = cat.models["nemotron-3.5-lightning-30b-a3b"]
    assert (m.layers, m.global_layers, m.attention.kv_heads, m.context_tokens) == (
        52,
        6,
        2,
        1048576,
    )
    assert m.moe is not None and (m.moe.experts, m.moe.experts_per_token) == (128, 6)
    assert m.license == "openmdw-1.1"


def test_laguna_north_step_coder(cat: Catalog) -> None:
    # Laguna XS.2 card + transformers LagunaConfig: 33B/3B, 10 global + 30 SWA(512), 8 KV of 128
    lag = cat.models["laguna-xs.2"]
    assert (lag.params_b, lag.active_params_b, lag.global_layers) == (33, 3, 10)
    assert (lag.attention.sliding_layers, lag.attention.sliding_window) == (30, 512)
    assert scores(lag, "SWE-bench Verified") == [68.2]
    # Cohere blog: 30B-A3B, 128 experts 8 active, 3:1 sliding/global, Apache 2.0
    north = cat.models["north-mini-code"]
    assert north.moe is not None and (north.moe.experts, north.moe.experts_per_token) == (128, 8)
    assert (north.license, north.origin_country) == ("apache-2.0", "CA")
    # Step 3.5 Flash card: 196B / 11B, 256K, Apache-2.0, SWE-bench Verified 74.4
    step = cat.models["step-3.5-flash"]
    assert (step.params_b, step.active_params_b, step.context_tokens) == (196, 11, 262144)
    assert scores(step, "SWE-bench Verified") == [74.4]
    # Qwen3-Coder-Next card: 80B/3B, 48 layers = 12 x (3 GDN + 1 gated attention), 512 experts
    nxt = cat.models["qwen3-coder-next"]
    assert (nxt.params_b, nxt.layers, nxt.global_layers) == (80, 48, 12)
    assert nxt.moe is not None and (nxt.moe.experts, nxt.moe.experts_per_token) == (512, 10)
    # QwenLM/Qwen3-Coder README news commit 2025-07-31
    assert cat.models["qwen3-coder-30b-a3b-instruct"].release_date == dt.date(2025, 7, 31)


# ---------------------------------------------------------------- quality figures

# Entries of the 20-40B band without any figure the quality term can read; each says why in
# benchmark_gap. Keep this list exact: a new entry without a figure fails the test below.
BAND_WITHOUT_FIGURES = {
    "trinity-mini",
    "olmo-2-32b-instruct",
    "olmo-3-32b-think",
    "qwen3.8-27b",
    "granite-4.1-30b",
    "nemotron-3.5-lightning-30b-a3b",
    "north-mini-code",
    "qwen3-coder-30b-a3b-instruct",
}
FLAGSHIPS_WITHOUT_FIGURES = {
    "trinity-mini",
    "mistral-small-4-119b",
    "olmo-2-32b-instruct",
    "olmo-3-32b-think",
    "qwen3.8-27b",
    "granite-4.1-30b",
    "nemotron-3.5-lightning-30b-a3b",
    "north-mini-code",
}
READ = set(QUALITY_BENCHMARKS) | {n for names in NEED_BENCHMARKS.values() for n in names}


def has_figure(m: ModelEntry) -> bool:
    return any(b.name in READ for b in m.benchmarks)


def test_band_entries_have_a_sourced_quality_figure(cat: Catalog) -> None:
    band = {m.id for m in cat.models.values() if 20 <= m.params_b <= 40}
    assert len(band) >= 25
    without = {mid for mid in band if not has_figure(cat.models[mid])}
    assert without == BAND_WITHOUT_FIGURES
    general = {
        mid for mid in band if any(b.name in QUALITY_BENCHMARKS for b in cat.models[mid].benchmarks)
    }
    assert len(general) >= 15


def test_family_flagships_have_a_sourced_quality_figure(cat: Catalog) -> None:
    flagship: dict[str, ModelEntry] = {}
    for m in cat.models.values():
        if m.family not in flagship or m.params_b > flagship[m.family].params_b:
            flagship[m.family] = m
    without = {m.id for m in flagship.values() if not has_figure(m)}
    assert without == FLAGSHIPS_WITHOUT_FIGURES


def test_every_gap_is_explained(cat: Catalog) -> None:
    for m in cat.models.values():
        names = {b.name for b in m.benchmarks}
        if not set(QUALITY_BENCHMARKS) <= names:
            assert m.benchmark_gap, m.id


def test_competitor_columns_are_labelled(cat: Catalog) -> None:
    def by(mid: str, name: str) -> set[str]:
        return {
            b.evaluated_by
            for b in cat.models[mid].benchmarks
            if b.name == name and b.evaluated_as == "competitor"
        }

    assert by("gpt-oss-120b", "MMLU-Pro") == {"Alibaba Qwen"}
    assert by("gpt-oss-20b", "MMLU-Pro") == {"NVIDIA"}
    assert by("kimi-k2.6", "GPQA-Diamond") == {"DeepSeek"}
    assert by("phi-4", "GPQA-Diamond") == {"Alibaba Qwen"}
    assert by("deepseek-v3.2", "GPQA-Diamond") == {"Z.ai"}
    # No shipped figure from another vendor's table is called independent.
    for m in cat.models.values():
        for b in m.benchmarks:
            if b.evaluated_as == "independent":
                assert "Artificial Analysis" in b.evaluated_by, (m.id, b.name)


def test_mistral_small_32_card_figures(cat: Catalog) -> None:
    # Mistral-Small-3.2-24B-Instruct-2506 card, STEM table (5-shot CoT), read through copies
    m = cat.models["mistral-small-3.2-24b"]
    card = "https://huggingface.co/mistralai/Mistral-Small-3.2-24B-Instruct-2506"
    for name, score in (("MMLU-Pro", 69.06), ("GPQA-Diamond", 46.13)):
        (b,) = [b for b in m.benchmarks if b.name == name]
        assert (b.score, str(b.source), b.evaluated_as, b.shots) == (score, card, "vendor", 5)
    assert quality(m).value == pytest.approx((69.06 + 46.13) / 200)


def test_nemotron_ultra_tech_report_figures(cat: Catalog) -> None:
    # NVIDIA-NeMo/Nemotron skills/nemotron-ultra/paper/evaluation.md: Ultra tech report Table 10,
    # post-trained BF16 column (not the base-model table's MMLU-Pro 79.07)
    m = cat.models["nemotron-3-ultra-550b-a55b"]
    src = "https://github.com/NVIDIA-NeMo/Nemotron/blob/main/skills/nemotron-ultra/paper/evaluation.md"
    got = {b.name: (b.score, str(b.source), b.evaluated_as) for b in m.benchmarks}
    assert got == {
        "MMLU-Pro": (86.8, src, "vendor"),
        "GPQA-Diamond": (87.0, src, "vendor"),
        "LiveCodeBench": (89.0, src, "vendor"),
        "SWE-bench Verified": (71.9, src, "vendor"),
    }
    assert m.benchmark_gap == ""


def test_qwen3_tech_report_figures(cat: Catalog) -> None:
    # arXiv 2505.09388 Tables 15-18: GPQA-Diamond thinking / non-thinking
    assert scores(cat.models["qwen3-8b"], "GPQA-Diamond") == [39.3, 62.0]
    assert scores(cat.models["qwen3-14b"], "GPQA-Diamond") == [54.8, 64.0]
    assert scores(cat.models["qwen3-30b-a3b"], "GPQA-Diamond") == [54.8, 65.8]
    both = [b.thinking for b in cat.models["qwen3-30b-a3b"].benchmarks if b.name == "GPQA-Diamond"]
    assert sorted(both, key=bool) == [False, True]


# ---------------------------------------------------------------- freshness


def test_every_shipped_entry_has_a_verification_date(cat: Catalog) -> None:
    for m in cat.models.values():
        assert m.last_verified is not None, m.id
        assert m.last_verified >= m.release_date, m.id
    for lic in cat.licenses.values():
        assert lic.last_verified is not None, lic.id


def test_unread_license_scores_no_better_than_apache(cat: Catalog) -> None:
    apache = license_term(cat.licenses["apache-2.0"]).value
    nemotron = cat.licenses["nvidia-nemotron-open-model"]
    assert not nemotron.clauses_verified and not nemotron.clauses
    assert license_term(nemotron).value <= apache  # it scored 1.00 before issue 15


def test_quality_reads_the_code_need_of_deepseek_v4(cat: Catalog) -> None:
    flash = cat.models["deepseek-v4-flash"]
    general = quality(flash)
    coding = quality(flash, [Capability.CODE])
    # DeepSeek-V4 card, Think Max: LiveCodeBench 91.6, SWE-bench Verified 79.0
    assert coding.value == pytest.approx((general.value + (91.6 + 79.0) / 200) / 2)
    assert "LiveCodeBench 91.6 (thinking, vendor)" in coding.why
