"""vLLM/SGLang accounting, one formula at a time (selector/fit/serving.py, docs/fit.md).

Expected values are computed here from the formulas vLLM's source states (kv_cache_utils.py,
kv_cache_interface.py), or taken from start-up logs users posted (bench/data/vllm_logs.toml).
"""

from __future__ import annotations

import math

import pytest

from selector.fit import serving, serving_speed
from selector.fit.serving import (
    GIB,
    ServingModel,
    ServingSettings,
    estimate_serving,
    kv_layout,
    vllm_kv_capacity,
)


def dense(**over: object) -> ServingModel:
    base: dict[str, object] = {
        "name": "dense-8b",
        "params": 8.0e9,
        "active_params": 8.0e9,
        "layers": 32,
        "hidden": 4096,
        "vocab": 128_256,
        "heads": 32,
        "kv_heads": 8,
        "head_dim": 128,
        "global_layers": 32,
    }
    base.update(over)
    return ServingModel(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- weights


def test_bf16_weights_are_two_bytes_per_parameter_split_over_tp() -> None:
    m = dense()
    assert serving.weight_bytes(m, "BF16") == pytest.approx(16.0e9)
    assert serving.weights_per_gpu(m, "BF16", tp=2, pp=1) == pytest.approx(8.0e9)


def test_fp8_keeps_embedding_and_head_in_16_bit() -> None:
    m = dense()
    embed = 2 * 128_256 * 4096  # untied: input embedding + output head
    expected = (8.0e9 - embed) * 1 + embed * 2
    assert serving.weight_bytes(m, "FP8") == pytest.approx(expected)
    tied = dense(tied_embeddings=True)
    assert serving.weight_bytes(tied, "FP8") == pytest.approx((8.0e9 - embed / 2) + embed)


def test_mxfp4_quantizes_only_the_routed_experts_and_pads_them() -> None:
    # gpt-oss-120b as the catalog has it: 117B total, 5.1B active, 128 experts, top-4
    m = dense(
        params=117e9,
        active_params=5.1e9,
        layers=36,
        hidden=2880,
        vocab=201_088,
        heads=64,
        kv_heads=8,
        head_dim=64,
        global_layers=18,
        experts=128,
        experts_per_token=4,
    )
    experts = 128 * (117e9 - 5.1e9) / (128 - 4)
    assert serving.weight_bytes(m, "MXFP4") == pytest.approx(
        experts * 4.25 / 8 + (117e9 - experts) * 2
    )
    # vLLM pads the expert intermediate size to 128 and hidden to 256: 2880 -> 3072 hidden
    assert serving.mxfp4_padding(m, 1) > 3072 / 2880
    padded = serving.weights_per_gpu(m, "MXFP4", 1, 1)
    # the log of vllm#23278: "Model loading took 65.9651 GiB"
    assert padded / GIB == pytest.approx(65.9651, rel=0.03)


def test_pipeline_stage_holds_its_layers_and_one_vocabulary_matrix() -> None:
    m = dense()
    matrix = 128_256 * 4096 * 2
    body = 16.0e9 - 2 * matrix
    assert serving.weights_per_gpu(m, "BF16", 1, 2) == pytest.approx(body / 2 + matrix)
    assert serving.weights_per_gpu(m, "BF16", 2, 2) == pytest.approx((body / 2 + matrix) / 2)


# ---------------------------------------------------------------- KV layout


def test_kv_heads_split_over_tp_and_replicated_when_fewer_than_gpus() -> None:
    m = dense()  # 8 KV heads of 128
    assert kv_layout(m, tp=1).full_bytes == 2 * 8 * 128 * 2
    assert kv_layout(m, tp=4).full_bytes == 2 * 2 * 128 * 2
    # TP 16 > 8 KV heads: each rank keeps one head (replicated), not half of one
    assert kv_layout(m, tp=16).full_bytes == 2 * 1 * 128 * 2
    assert kv_layout(dense(kv_heads=4), tp=8).full_bytes == kv_layout(m, tp=16).full_bytes


def test_fp8_kv_cache_halves_the_bytes() -> None:
    m = dense()
    assert kv_layout(m, 1, 1, "fp8").full_bytes * 2 == kv_layout(m, 1, 1, "auto").full_bytes


def test_mla_caches_one_latent_not_split_by_tp() -> None:
    m = dense(mla_kv_dim=576, heads=128, kv_heads=128, head_dim=192, layers=61, global_layers=61)
    one, eight = kv_layout(m, tp=1), kv_layout(m, tp=8)
    assert one.mla and one.full_bytes == 576 * 2
    assert eight.full_bytes == one.full_bytes  # every rank holds the whole latent
    # DeepSeek-V2-Lite at 32,768 tokens: vLLM printed "0.95 GiB KV cache is needed" (vllm#15871)
    lite = dense(mla_kv_dim=576, layers=27, global_layers=27, heads=16, kv_heads=16)
    needed = kv_layout(lite, 1).full_bytes * 27 * 32_768 / GIB
    assert needed == pytest.approx(0.95, abs=0.01)


def test_pipeline_stage_holds_its_share_of_layers() -> None:
    assert kv_layout(dense(), 1, 2).full_layers == 16
    assert kv_layout(dense(layers=27, global_layers=27), 1, 2).full_layers == 14


# ---------------------------------------------------------------- KV capacity


def test_uniform_capacity_reproduces_a_printed_vllm_log() -> None:
    # LMCache#1739: Qwen3-14B (40 layers, 8 KV heads of 128), "Available KV cache memory:
    # 6.51 GiB", "GPU KV cache size: 42,656 tokens", "Maximum concurrency for 32,768 tokens
    # per request: 1.30x"
    m = dense(layers=40, global_layers=40, heads=40, kv_heads=8)
    cap = vllm_kv_capacity(kv_layout(m, 1), 6.51 * GIB, 32_768)
    assert cap.tokens == 42_656
    assert round(cap.max_concurrency, 2) == 1.30


def test_uniform_capacity_is_whole_blocks_over_all_layers() -> None:
    layout = kv_layout(dense(), 1)
    page = 16 * layout.full_bytes
    cap = vllm_kv_capacity(layout, 1000 * page * 32 + page * 31, 1000)
    assert cap.num_blocks == 1000  # the partial block is dropped
    assert cap.tokens == 16_000
    assert cap.max_concurrency == pytest.approx(1000 / math.ceil(1000 / 16))


def test_sliding_window_groups_like_vllm_hybrid_manager() -> None:
    # gpt-oss-20b shape: 12 full + 12 sliding (window 128) layers: one group of 12 per type
    m = dense(layers=24, global_layers=12, sliding_layers=12, sliding_window=128, kv_heads=8)
    layout = kv_layout(m, 1)
    page = 16 * layout.full_bytes
    blocks = 5000
    cap = vllm_kv_capacity(
        layout, blocks * page * 12, 131_072, sliding_window=128, max_num_batched_tokens=8192
    )
    assert cap.groups == 2
    assert cap.num_blocks == blocks
    assert cap.tokens == blocks // 2 * 16
    per_request = math.ceil(131_072 / 16) + (math.ceil(min(127 + 8192, 131_072) / 16) + 1)
    assert cap.max_concurrency == pytest.approx(blocks / per_request)
    # without the hybrid manager the sliding layers cost as much as the full ones
    full = vllm_kv_capacity(layout, blocks * page * 12, 131_072, hybrid_manager=False)
    assert full.max_concurrency < cap.max_concurrency


def test_sliding_groups_pad_to_the_rarer_type() -> None:
    # Gemma 3 27B: 10 full + 52 sliding -> groups of 10: 1 full + 6 sliding (8 padding layers)
    m = dense(layers=62, global_layers=10, sliding_layers=52, sliding_window=1024, kv_heads=16)
    layout = kv_layout(m, 1)
    cap = vllm_kv_capacity(layout, 20 * GIB, 8192, sliding_window=1024)
    assert cap.groups == 7
    assert cap.num_blocks == int(20 * GIB // (16 * layout.full_bytes) // 10)


def test_mla_capacity_with_pipeline_stages_reproduces_a_printed_log() -> None:
    # vllm#20665: DeepSeek-V2-Lite, TP 2 x PP 2 on L4s, the first stage "Available KV cache
    # memory: 12.13 GiB", "GPU KV cache size: 807,792 tokens", 788.86x at 1,024 tokens
    lite = dense(mla_kv_dim=576, layers=27, global_layers=27, heads=16, kv_heads=16)
    cap = vllm_kv_capacity(kv_layout(lite, 2, 2), 12.13 * GIB, 1024)
    assert cap.tokens == pytest.approx(807_792, rel=0.01)
    assert cap.max_concurrency == pytest.approx(788.86, rel=0.01)


# ---------------------------------------------------------------- reserve and defaults


def test_batch_defaults_follow_engine_args() -> None:
    assert serving.vllm_batch_defaults(79.2, "NVIDIA H100 80GB HBM3") == (8192, 1024)
    assert serving.vllm_batch_defaults(79.2, "NVIDIA A100-SXM4-80GB") == (2048, 256)
    assert serving.vllm_batch_defaults(44.5, "NVIDIA L40S") == (2048, 256)


def test_reserve_grows_with_sampled_sequences_and_vocabulary() -> None:
    small = serving.vllm_reserve(dense(), 1, 1, max_num_batched_tokens=2048, max_num_seqs=256)
    big = serving.vllm_reserve(dense(), 1, 1, max_num_batched_tokens=8192, max_num_seqs=1024)
    assert big.sampler == pytest.approx(4 * small.sampler)
    assert big.activation == pytest.approx(4 * small.activation)
    v0 = serving.vllm_reserve(dense(), 1, 1, max_num_batched_tokens=2048, max_num_seqs=256, v0=True)
    assert v0.sampler < small.sampler
    no_graphs = serving.vllm_reserve(
        dense(), 1, 1, max_num_batched_tokens=2048, max_num_seqs=256, cuda_graphs_in_budget=False
    )
    assert small.cuda_graphs > 0 and no_graphs.cuda_graphs == 0
    tp2 = serving.vllm_reserve(dense(), 2, 1, max_num_batched_tokens=2048, max_num_seqs=256)
    assert tp2.non_torch > small.non_torch  # NCCL buffers when a replica spans GPUs


def test_kv_memory_is_utilization_minus_weights_minus_reserve() -> None:
    m = dense()
    s = ServingSettings(max_model_len=8192, gpu_memory_utilization=0.9)
    est = estimate_serving(m, 79.22, s, "NVIDIA H100 80GB HBM3")
    expected = 79.22 * GIB * 0.9 - est.weights - est.reserve.total
    assert est.kv_memory == pytest.approx(expected)
    assert est.fits and est.capacity.max_concurrency > 1
    lower = estimate_serving(m, 79.22, ServingSettings(gpu_memory_utilization=0.5))
    assert lower.kv_memory < est.kv_memory


def test_a_model_larger_than_the_gpu_does_not_fit() -> None:
    est = estimate_serving(dense(params=70e9, active_params=70e9), 79.22, ServingSettings())
    assert not est.fits and est.capacity.tokens == 0


def test_sglang_pool_is_static_fraction_minus_memory_after_load() -> None:
    # SGLang's default for an H100 (79 GiB, TP 4): (79.22 - (9.5 + 4/2)) / 79.22
    assert serving.sglang_mem_fraction_static(79.22, 4) == round((79.22 - 11.5) / 79.22, 3)
    assert serving.sglang_mem_fraction_static(23.5, 1) == round((23.5 - 2.9) / 23.5, 3)
    m = dense()
    est = estimate_serving(m, 79.22, ServingSettings(engine="sglang", gpu_memory_utilization=0.9))
    per_token = kv_layout(m, 1).full_bytes * 32
    assert est.capacity.tokens == int(
        (79.22 * GIB * 0.9 - est.weights - est.reserve.total) // per_token
    )


# ---------------------------------------------------------------- speed


def test_per_session_speed_falls_as_sessions_share_the_bandwidth() -> None:
    m = dense()
    est = estimate_serving(m, 79.22, ServingSettings(max_model_len=32_768))
    one = serving_speed.decode_estimate(m, est, 3350, 1, 32_768)
    many = serving_speed.decode_estimate(m, est, 3350, 16, 32_768)
    assert many.per_session_tokens_per_s < one.per_session_tokens_per_s
    assert many.aggregate_tokens_per_s > one.aggregate_tokens_per_s
    assert "3350 GB/s" in one.basis and "16 session(s)" in many.basis


def test_moe_step_reads_more_experts_as_the_batch_grows() -> None:
    moe = dense(params=30e9, active_params=3e9, experts=128, experts_per_token=8)
    one = serving_speed.weights_read_per_step(moe, "BF16", 1, 1)
    many = serving_speed.weights_read_per_step(moe, "BF16", 1, 64)
    assert one < many < serving.weight_bytes(moe, "BF16")
    assert serving_speed.weights_read_per_step(dense(), "BF16", 2, 64) == pytest.approx(8.0e9)
