"""Fit formulas on known figures: KV sanity sums, SWA caps, MLA, placement, quant names."""

from __future__ import annotations

import datetime as dt

import pytest

from selector.catalog.schema import Attention, ModelEntry
from selector.fit import (
    QUANTIZATIONS,
    disk_size_gb,
    estimate_fit,
    normalize_quant,
)
from selector.fit.memory import GIB, RuntimeSettings, kv_cache_bytes, shape_from_catalog
from selector.fit.quant import GGML_TYPE_SIZES, bits_per_weight
from selector.hardware import GPUSlot, HardwareProfile
from selector.vocab import Architecture


def entry(**over: object) -> ModelEntry:
    base: dict[str, object] = {
        "id": "m",
        "name": "M",
        "family": "f",
        "organization": "o",
        "origin_country": "US",
        "release_date": dt.date(2025, 1, 1),
        "params_b": 1.7,
        "architecture": Architecture.DENSE,
        "layers": 28,
        "hidden_size": 2048,
        "vocab_size": 151_936,
        "attention": Attention(heads=16, kv_heads=8, head_dim=128),
        "context_tokens": 131_072,
        "license": "apache-2.0",
        "sources": ["https://example.org"],
    }
    base.update(over)
    return ModelEntry(**base)  # type: ignore[arg-type]


def gpu(vram: float, count: int = 1, bw: float = 864, tflops: float = 181) -> HardwareProfile:
    slot = GPUSlot(model="X", vram_gb=vram, count=count, bandwidth_gb_s=bw, fp16_tflops=tflops)
    return HardwareProfile(source="declared", ram_gb=128, cpu_cores=16, gpus=[slot])


def cpu(ram: float) -> HardwareProfile:
    return HardwareProfile(source="declared", ram_gb=ram, cpu_cores=8)


def test_type_sizes_match_the_gguf_package() -> None:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    for name, sizes in GGML_TYPE_SIZES.items():
        assert GGML_QUANT_SIZES[GGMLQuantizationType[name]] == sizes, name


def test_preset_bits_follow_quantize_cpp_sizes() -> None:
    # 4.58 GiB for Llama-3-8B's 8.03B parameters -> 4.90 bits per weight
    assert QUANTIZATIONS["Q4_K_M"] == pytest.approx(4.90, abs=0.01)
    assert QUANTIZATIONS["Q8_0"] == pytest.approx(8.5, abs=0.05)
    assert QUANTIZATIONS["F16"] == 16.0
    ordered = ["Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"]
    assert [QUANTIZATIONS[q] for q in ordered] == sorted(QUANTIZATIONS[q] for q in ordered)


def test_normalize_quant_accepts_spellings_and_hints() -> None:
    assert normalize_quant("q4_k_m") == "Q4_K_M"
    assert normalize_quant("Q4_K") == "Q4_K_M"
    assert normalize_quant("mxfp4_moe") == "MXFP4"
    with pytest.raises(ValueError, match="Did you mean: Q4_K_M"):
        normalize_quant("Q4_KM")
    with pytest.raises(ValueError, match="Unknown quantization"):
        normalize_quant("int4")


def test_kv_sanity_qwen3_1_7b_at_128k() -> None:
    # 2 x 28 layers x 8 KV heads x 128 x 131072 x 2 bytes = 14.0 GiB
    shape = shape_from_catalog(entry(), "Q4_K_M")
    kv = kv_cache_bytes(shape, 131_072, RuntimeSettings())
    assert kv == 2 * 28 * 8 * 128 * 131_072 * 2
    assert kv / GIB == pytest.approx(14.0)


def test_kv_pads_context_to_256_and_scales_with_cache_type() -> None:
    shape = shape_from_catalog(entry(), "Q4_K_M")
    assert kv_cache_bytes(shape, 1000, RuntimeSettings()) == kv_cache_bytes(
        shape, 1024, RuntimeSettings()
    )
    f16 = kv_cache_bytes(shape, 4096, RuntimeSettings())
    q8 = kv_cache_bytes(shape, 4096, RuntimeSettings(kv_cache_type="q8_0"))
    assert q8 == pytest.approx(f16 * 34 / 32 / 2)
    # quantized V needs flash attention; without it llama.cpp keeps V in f16
    q8_nofa = kv_cache_bytes(shape, 4096, RuntimeSettings(kv_cache_type="q8_0", flash_attn=False))
    assert q8_nofa == pytest.approx(f16 * (34 / 32 / 2 + 1) / 2)


def test_sliding_window_layers_are_capped_unless_swa_full() -> None:
    gemma = entry(
        layers=18,
        attention=Attention(
            heads=4, kv_heads=1, head_dim=256, global_layers=3, sliding_window=512,
            sliding_layers=15,
        ),
    )  # fmt: skip
    shape = shape_from_catalog(gemma, "Q4_K_M")
    per_cell = 1 * 256 * 2 * 2  # K + V, f16
    capped = kv_cache_bytes(shape, 32_768, RuntimeSettings())
    # global layers hold 32768 cells; sliding ones PAD(512 + 512, 256) = 1024
    assert capped == (3 * 32_768 + 15 * 1024) * per_cell
    full = kv_cache_bytes(shape, 32_768, RuntimeSettings(swa_full=True))
    assert full == 18 * 32_768 * per_cell


def test_mla_caches_only_the_latent() -> None:
    mla = entry(
        layers=61,
        attention=Attention(heads=128, kv_heads=128, head_dim=128, mla_kv_dim=576),
    )
    shape = shape_from_catalog(mla, "Q4_K_M")
    assert kv_cache_bytes(shape, 4096, RuntimeSettings()) == 61 * 4096 * 576 * 2


def test_attention_multiply_adds_follow_query_heads_not_kv_heads() -> None:
    from selector.fit.speed import attention_macs_per_token, kv_read_bytes_per_token

    gqa = shape_from_catalog(entry(), "Q4_K_M")  # 16 query heads over 8 KV heads of 128
    mha = shape_from_catalog(
        entry(attention=Attention(heads=16, kv_heads=16, head_dim=128)), "Q4_K_M"
    )
    # per cell and layer: 16 query heads x (128 K + 128 V) multiply-adds
    assert attention_macs_per_token(gqa, 1000) == 28 * 1000 * 16 * 256
    assert attention_macs_per_token(mha, 1000) == attention_macs_per_token(gqa, 1000)
    assert kv_read_bytes_per_token(mha, 1000, 2) == 2 * kv_read_bytes_per_token(gqa, 1000, 2)
    swa = shape_from_catalog(
        entry(layers=18, attention=Attention(heads=4, kv_heads=1, head_dim=256, global_layers=3,
                                             sliding_window=512, sliding_layers=15)),
        "Q4_K_M",
    )  # fmt: skip
    per_cell = 4 * 512
    assert attention_macs_per_token(swa, 4096) == (3 * 4096 + 15 * 512) * per_cell
    assert attention_macs_per_token(swa, 4096, swa_full=True) == 18 * 4096 * per_cell
    mla = shape_from_catalog(
        entry(
            layers=61, attention=Attention(heads=128, kv_heads=128, head_dim=128, mla_kv_dim=576)
        ),
        "Q4_K_M",
    )
    assert attention_macs_per_token(mla, 100) == 61 * 100 * 128 * 2 * 576


def test_70b_dense_q4_k_m_does_not_fit_one_48gb_gpu() -> None:
    llama70 = entry(
        params_b=70.6, layers=80, hidden_size=8192, vocab_size=128_256,
        attention=Attention(heads=64, kv_heads=8, head_dim=128),
    )  # fmt: skip
    hw = gpu(48).model_copy(update={"ram_gb": 4})
    # 40 GiB of weights + 10 GiB of KV cache at 32k (80 x 8 x 128 x 2 x 2 bytes per token)
    fit = estimate_fit(llama70, hw, quantization="Q4_K_M", context_tokens=32_768)
    assert fit.weights_gb > 39
    assert fit.kv_cache_gb == pytest.approx(10.0)
    assert fit.placement == "none" and not fit.fits
    # with RAM for the remainder it runs split between GPU and CPU, never all on the GPU
    split = estimate_fit(llama70, gpu(48), quantization="Q4_K_M", context_tokens=32_768)
    assert split.placement == "split"
    assert 0 < split.gpu_layers < 80
    assert split.gpu_memory_gb <= 48


def test_30b_q4_k_m_does_not_fit_a_16gb_cpu_laptop() -> None:
    model = entry(
        params_b=30.5, active_params_b=3.3, architecture=Architecture.MOE, layers=48,
        attention=Attention(heads=32, kv_heads=4, head_dim=128),
    )  # fmt: skip
    fit = estimate_fit(model, cpu(16), quantization="Q4_K_M", context_tokens=32_768)
    assert fit.placement == "none" and not fit.fits
    assert fit.memory_kind == "resident_peak"
    roomy = estimate_fit(model, cpu(64), quantization="Q4_K_M", context_tokens=32_768)
    assert roomy.placement == "cpu" and roomy.fits
    assert roomy.memory_gb == roomy.resident_peak_gb < roomy.allocation_gb


def test_small_model_fits_gpu_and_decode_uses_gpu_bandwidth() -> None:
    fit = estimate_fit(entry(), gpu(24), quantization="Q4_K_M", context_tokens=32_768)
    assert fit.placement == "gpu" and fit.fits
    assert fit.memory_gb == fit.allocation_gb
    assert fit.estimated_decode_tokens_per_s is not None
    # 864 GB/s over ~1 GB of weights + 3.8 GB of KV read at 32k, x 0.55, + 1.3 ms overhead
    # (28 layers x 0.03 ms + 152k vocabulary x 1 ns + 0.3 ms): ~91 tokens/s
    seconds = 4.61e9 / (864e9 * 0.55) + (28 * 0.03 + 0.3) / 1e3 + 151_936 * 1e-9
    assert fit.estimated_decode_tokens_per_s == pytest.approx(1 / seconds, rel=0.01)
    assert "864 GB/s" in fit.speed_basis and "not calibrated" in fit.speed_basis
    assert "28 layers x 0.03 ms" in fit.speed_basis  # the assumed GPU per-token overhead
    assert fit.estimated_time_to_first_token_ms is not None


def test_two_gpus_hold_what_one_cannot() -> None:
    model = entry(params_b=32, layers=64, hidden_size=5120, vocab_size=152_064,
                  attention=Attention(heads=40, kv_heads=8, head_dim=128))  # fmt: skip
    one = estimate_fit(model, gpu(24), quantization="Q4_K_M", context_tokens=32_768)
    two = estimate_fit(model, gpu(24, count=2), quantization="Q4_K_M", context_tokens=32_768)
    assert one.placement == "split"
    assert two.placement == "gpu"


def test_disk_size_follows_bits_per_weight() -> None:
    model = entry(params_b=8.03)
    assert disk_size_gb(model, "Q4_K_M") == pytest.approx(4.58 * 1.01, rel=0.01)
    assert disk_size_gb(model, "Q8_0") > disk_size_gb(model, "Q4_K_M")


def test_unknown_kv_cache_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="KV cache type"):
        estimate_fit(entry(), cpu(16), quantization="Q4_K_M", context_tokens=4096,
                     kv_cache_type="q3")  # fmt: skip


def test_bits_per_weight_validates() -> None:
    assert bits_per_weight("q6_k") == QUANTIZATIONS["Q6_K"]
