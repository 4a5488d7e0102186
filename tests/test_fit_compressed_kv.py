"""KV cache of compressed attention (DeepSeek V4 style) from [[model.attention.compressed]].

Every layer keeps a window of one shared K=V head; compressed layers add one pooled row per
`ratio` tokens (CSA rows also carry an indexer key).
"""

from __future__ import annotations

import pytest

from selector.catalog import ModelEntry, load_catalog
from selector.fit.memory import KV_PAD, RuntimeSettings, kv_cache_bytes, pad, shape_from_catalog

F16 = 2


def v4_like() -> ModelEntry:
    return ModelEntry.model_validate(
        {
            "id": "v4-like",
            "name": "V4-like",
            "family": "x",
            "organization": "X",
            "origin_country": "CN",
            "release_date": "2026-04-24",
            "params_b": 284,
            "active_params_b": 13,
            "architecture": "moe",
            "moe": {"experts": 256, "experts_per_token": 6, "shared_experts": 1},
            "layers": 43,
            "hidden_size": 4096,
            "context_tokens": 1048576,
            "license": "mit",
            "sources": ["https://example.org"],
            "attention": {
                "heads": 64,
                "kv_heads": 1,
                "head_dim": 512,
                "shared_kv": True,
                "sliding_window": 128,
                "sliding_layers": 43,
                "compressed": [
                    {"layers": 21, "ratio": 4, "indexer_head_dim": 128},
                    {"layers": 20, "ratio": 128},
                ],
            },
        }
    )


def test_compressed_cache_by_hand() -> None:
    shape = shape_from_catalog(v4_like(), "Q4_K_M")
    rt = RuntimeSettings()
    ctx = 1_048_576
    window = pad(min(pad(ctx, KV_PAD), 128 + rt.n_ubatch), KV_PAD)  # llama.cpp's SWA cap
    by_hand = (
        43 * window * 512  # window of the shared K=V head on every layer, no V tensor
        + 21 * ctx * (512 // 4 + 128 // 4)  # CSA: pooled row + indexer key per 4 tokens
        + 20 * ctx * (512 // 128)  # HCA: pooled row per 128 tokens
    ) * F16
    assert kv_cache_bytes(shape, ctx, rt) == pytest.approx(by_hand)


def test_compressed_and_mla_are_exclusive() -> None:
    data = v4_like().model_dump(mode="json")
    data["attention"]["mla_kv_dim"] = 576
    with pytest.raises(ValueError, match="different caches"):
        ModelEntry.model_validate(data)
    data = v4_like().model_dump(mode="json")
    data["attention"]["compressed"][0]["layers"] = 40
    with pytest.raises(ValueError, match="compressed layers exceed layers"):
        ModelEntry.model_validate(data)


def test_shipped_deepseek_v4_caches() -> None:
    cat = load_catalog()
    rt = RuntimeSettings()
    ctx = 1_048_576
    flash = shape_from_catalog(cat.models["deepseek-v4-flash"], "Q4_K_M")
    assert kv_cache_bytes(flash, ctx, rt) == kv_cache_bytes(
        shape_from_catalog(v4_like(), "Q4_K_M"), ctx, rt
    )
    # The V4 card: Pro needs ~10% of DeepSeek-V3.2's KV cache at 1M tokens. This model, which
    # counts V3.2's latent but not its indexer keys, puts Pro at about 14%.
    pro = kv_cache_bytes(shape_from_catalog(cat.models["deepseek-v4-pro"], "Q4_K_M"), ctx, rt)
    v32 = kv_cache_bytes(shape_from_catalog(cat.models["deepseek-v3.2"], "Q4_K_M"), ctx, rt)
    assert 0.08 < pro / v32 < 0.16
    small = kv_cache_bytes(shape_from_catalog(cat.models["deepseek-v4-pro"], "Q4_K_M"), 131072, rt)
    assert 7.5 < pro / small < 8.0  # linear in context, the window part fixed


def test_mla_cache_reads_the_latent_not_head_dim() -> None:
    # GLM-5 / GLM-4.7-Flash: head_dim corrected from 192 to 256 (qk_nope 192 + qk_rope 64); the
    # cache is the 576-wide latent per layer either way.
    cat = load_catalog()
    for mid, layers in (("glm-5", 78), ("glm-4.7-flash", 47), ("glm-5.1", 78)):
        model = cat.models[mid]
        assert model.attention.head_dim == 256 and model.attention.mla_kv_dim == 576
        shape = shape_from_catalog(model, "Q4_K_M")
        assert {(lay.k_width, lay.v_width) for lay in shape.kv_layers} == {(576, 0)}
        assert kv_cache_bytes(shape, 8192, RuntimeSettings()) == layers * 8192 * 576 * F16
        assert shape.n_embd == model.hidden_size
