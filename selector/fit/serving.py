"""vLLM and SGLang memory accounting: weights per GPU, non-KV reserve, KV capacity, concurrency.

Follows vLLM's own arithmetic (docs/fit.md names each file and function):

    KV memory per GPU = total x gpu_memory_utilization - weights - profile-run peak - non-torch
    tokens            = KV memory // (page size x layers) x block size      (kv_cache_utils.py)
    max concurrency   = KV blocks / blocks one request of max_model_len needs

and SGLang's: KV memory = total x mem_fraction_static - memory in use after the weights load.
Everything is per GPU ("rank"); a replica spans tensor_parallel x pipeline_parallel GPUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from selector.catalog.schema import ModelEntry
from selector.fit.precision import SERVING_PRECISIONS

GIB = 2**30
MIB = 2**20

# vLLM's default KV block: 16 tokens (CacheConfig.block_size). MLA backends on Hopper and
# Blackwell (FlashMLA, CUTLASS MLA) force 64 or 128; the Triton MLA backend elsewhere keeps 16,
# which is taken (the difference is under one block per request).
BLOCK_SIZE = 16
MLA_BLOCK_SIZE = 16
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9

# The dummy sampler run of the profile (gpu_model_runner.profile_run -> _dummy_sampler_run)
# holds logits for min(max_num_seqs, max_num_batched_tokens) requests over the whole vocabulary:
# bf16 logits, their fp32 copy, the top-k/top-p sort (fp32 values + int64 indices), softmax
# and the exponential noise of sampler.py, 26-30 bytes per logit depending on which coexist at
# the peak (not read exactly). 32 is taken: gpt-oss-120b's two H100 logs in bench/data imply
# 33-37 (7.4-7.6 GiB of reserve with 1024 x 201,088 logits), a 4xL4 DeepSeek-V2-Lite log fits
# with 28-36 (in-sample: bench/vllm_accuracy.py).
SAMPLER_BYTES_PER_LOGIT = 32
# V0 (vLLM < 0.10) profiled without the dummy sampler run; its peak exceeds the forward pass by
# ~0.3 GiB for 256 x 128,256 logits (vllm#10511's H100 log): ~8-10 bytes per logit.
V0_SAMPLER_BYTES_PER_LOGIT = 8
# Memory outside torch's allocator that the profile run adds (cuBLAS/attention workspaces;
# NCCL buffers of the collectives when a replica spans GPUs): MemorySnapshot.non_torch_memory.
# From the V0/V1 logs in bench/data that print it: 0.25-0.35 GiB on one GPU.
NON_TORCH_GIB = 0.3
NON_TORCH_MULTI_GPU_GIB = 0.3
# CUDA graphs: vLLM >= 0.21 profiles them into the budget ("CUDA graph memory profiling is
# enabled (default since v0.21.0)"); earlier versions took them from the (1 - utilization)
# headroom after the KV cache was allocated. Not measured here: 0.5 GiB assumed per GPU.
CUDA_GRAPH_GIB = 0.5
# SGLang: memory in use after the weights load besides them (CUDA context, NCCL).
SGLANG_CONTEXT_GIB = 0.6


@dataclass(frozen=True)
class ServingModel:
    """What the serving arithmetic reads: config.json values of one model."""

    name: str
    params: float
    active_params: float
    layers: int
    hidden: int
    vocab: int
    heads: int
    kv_heads: int
    head_dim: int
    global_layers: int
    sliding_layers: int = 0
    sliding_window: int | None = None
    sliding_kv_heads: int | None = None
    sliding_head_dim: int | None = None
    mla_kv_dim: int | None = None
    experts: int = 0
    experts_per_token: int = 0
    tied_embeddings: bool = False
    # DeepSeek V4's compressed layers: how many, and the values per token each adds on average
    # (a pooled row of `ratio` tokens, plus a CSA layer's indexer key), so they size as
    # full-context layers that many values wide.
    compressed_layers: int = 0
    compressed_values_per_token: float = 0.0

    @property
    def embedding_params(self) -> float:
        """Input embedding plus output head (one matrix when tied)."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def expert_params(self) -> float:
        """Routed-expert parameters: (total - active) spread over the experts not used per token."""
        if not self.experts or self.experts <= self.experts_per_token:
            return 0.0
        per_expert = (self.params - self.active_params) / (self.experts - self.experts_per_token)
        return per_expert * self.experts

    @property
    def ffn_width(self) -> float:
        """Dense MLP width from the parameter count: what the layers hold besides attention."""
        attn = self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)
        dense = (
            self.active_params
            - self.embedding_params
            - self.expert_params * (self.experts_per_token / self.experts if self.experts else 0)
        )
        return max(dense / self.layers - attn, 0.0) / (3 * self.hidden)

    @property
    def expert_width(self) -> float:
        if not self.experts:
            return 0.0
        return self.expert_params / self.experts / self.layers / (3 * self.hidden)


def serving_model(model: ModelEntry, *, tied_embeddings: bool = False) -> ServingModel:
    """The serving view of a catalog entry (hidden size and vocabulary estimated when missing)."""
    att = model.attention
    moe = model.moe
    return ServingModel(
        name=model.id,
        params=model.params_b * 1e9,
        active_params=model.active_b * 1e9,
        layers=model.layers,
        hidden=model.hidden_size or att.heads * att.head_dim,
        vocab=model.vocab_size or 128_000,
        heads=att.heads,
        kv_heads=att.kv_heads,
        head_dim=att.head_dim,
        global_layers=model.global_layers,
        sliding_layers=att.sliding_layers,
        sliding_window=att.sliding_window,
        sliding_kv_heads=att.sliding_kv_heads,
        sliding_head_dim=att.sliding_head_dim,
        mla_kv_dim=att.mla_kv_dim,
        experts=moe.experts if moe else 0,
        experts_per_token=moe.experts_per_token if moe else 0,
        tied_embeddings=tied_embeddings,
        compressed_layers=sum(g.layers for g in att.compressed),
        compressed_values_per_token=_compressed_values(model),
    )


def _compressed_values(model: ModelEntry) -> float:
    """Mean values per token a compressed layer adds (selector/fit/memory.py's layout)."""
    att = model.attention
    count = sum(g.layers for g in att.compressed)
    if not count:
        return 0.0
    width = att.kv_heads * att.head_dim
    total = sum(g.layers * (width + g.indexer_head_dim) / g.ratio for g in att.compressed)
    return total / count


# ---------------------------------------------------------------- weights


def weight_bytes(m: ServingModel, precision: str) -> float:
    """Bytes of the whole checkpoint at `precision` (its quantized part plus 16-bit rest)."""
    p = SERVING_PRECISIONS[precision]
    if p.scope == "all":
        return m.params * p.bits / 8
    quantized = m.expert_params if p.scope == "experts" else m.params - m.embedding_params
    quantized = max(min(quantized, m.params), 0.0)
    return quantized * p.bits / 8 + (m.params - quantized) * 2


def _round_up(value: float, to: int) -> float:
    return math.ceil(value / to) * to


def mxfp4_padding(m: ServingModel, tp: int) -> float:
    """Growth of MXFP4 expert tensors from vLLM's padding: the intermediate size per rank to a
    multiple of 128 and the hidden size to one of 256 (quantization/mxfp4.py,
    Mxfp4MoEMethod.create_weights; gpt-oss: 2880 -> 2944 and 3072, +9%)."""
    width = m.expert_width / tp
    if width <= 0:
        return 1.0
    return _round_up(width, 128) / width * _round_up(m.hidden, 256) / m.hidden


def weights_per_gpu(m: ServingModel, precision: str, tp: int, pp: int) -> float:
    """The largest rank's share: layers split over PP stages, every tensor over TP.

    Embedding and output head are vocabulary-parallel over TP; with PP the first stage holds
    the embedding and the last the head (each one matrix: a tied head is a second copy).
    """
    total = weight_bytes(m, precision)
    if SERVING_PRECISIONS[precision].scope == "experts":
        experts = m.expert_params * SERVING_PRECISIONS[precision].bits / 8
        total += experts * (mxfp4_padding(m, tp) - 1)
    matrix = m.vocab * m.hidden * 2  # 16-bit, never quantized
    embed = matrix * (1 if m.tied_embeddings else 2)
    body = max(total - embed, 0.0)
    if pp == 1:
        return (body + embed) / tp
    stage_layers = math.ceil(m.layers / pp)
    return (body * stage_layers / m.layers + matrix) / tp


# ---------------------------------------------------------------- KV cache


@dataclass(frozen=True)
class KVLayout:
    """Bytes per token and layer on one GPU, for full and sliding-window layers."""

    full_layers: int
    full_bytes: int
    sliding_layers: int
    sliding_bytes: int
    block_size: int
    mla: bool = False


def kv_dtype_bytes(kv_cache_dtype: str, model_dtype_bytes: int = 2) -> int:
    """`--kv-cache-dtype`: auto = the model's 16-bit dtype; fp8 (e4m3/e5m2) one byte."""
    return 1 if kv_cache_dtype.lower().startswith("fp8") else model_dtype_bytes


def kv_layout(m: ServingModel, tp: int, pp: int = 1, kv_cache_dtype: str = "auto") -> KVLayout:
    """Per-GPU KV bytes per token per layer (vLLM's AttentionSpec.real_page_size_bytes / block).

    Standard attention: 2 (K, V) x KV heads on this rank x head size x dtype, where a rank holds
    max(1, kv_heads // tp) heads: fewer KV heads than GPUs are replicated. MLA (DeepSeek, Kimi,
    GLM-5): one latent of kv_lora_rank + rope dims per token, not split over TP (every rank
    holds it whole: MLAAttentionSpec, num_kv_heads = 1).
    """
    size = kv_dtype_bytes(kv_cache_dtype)
    stage = 1.0 / pp
    if m.mla_kv_dim:
        full = m.mla_kv_dim * size
        return KVLayout(math.ceil(m.global_layers * stage), full, 0, 0, MLA_BLOCK_SIZE, mla=True)
    if m.compressed_layers:
        # V4: every layer's window (one shared K=V row, MQA, held whole on every rank) and the
        # compressed layers' pooled rows as full-context layers. vLLM's own V4 cache layout was
        # not read: docs/fit.md marks this as an estimate.
        return KVLayout(
            math.ceil(m.compressed_layers * stage),
            math.ceil(m.compressed_values_per_token * size),
            math.ceil(m.sliding_layers * stage),
            m.kv_heads * m.head_dim * size,
            MLA_BLOCK_SIZE,
            mla=True,
        )
    full = 2 * max(1, m.kv_heads // tp) * m.head_dim * size
    s_heads = m.sliding_kv_heads or m.kv_heads
    sliding = 2 * max(1, s_heads // tp) * (m.sliding_head_dim or m.head_dim) * size
    return KVLayout(
        math.ceil(m.global_layers * stage),
        full,
        math.ceil(m.sliding_layers * stage) if m.sliding_window else 0,
        sliding if m.sliding_window else 0,
        BLOCK_SIZE,
    )


@dataclass(frozen=True)
class KVCapacity:
    """What vLLM prints: "GPU KV cache size: N tokens", "Maximum concurrency ...: Xx"."""

    num_blocks: int
    tokens: int
    max_concurrency: float
    blocks_per_request: int
    groups: int


def vllm_kv_capacity(
    layout: KVLayout,
    kv_memory: float,
    max_model_len: int,
    *,
    sliding_window: int | None = None,
    max_num_batched_tokens: int = 8192,
    hybrid_manager: bool = True,
) -> KVCapacity:
    """vLLM's get_kv_cache_config_from_groups and get_max_concurrency_for_kv_cache_config.

    One attention type: num_blocks = memory // page // layers. Full and sliding layers with the
    hybrid manager: layers are grouped G at a time (G = the rarer type's count, or the commoner
    one's when within 1.5x: _get_kv_cache_groups_uniform_page_size), every group gets the same
    block pool, tokens = num_blocks // groups x block_size, and a request needs
    cdiv(max_model_len, block) blocks per full group and cdiv(min(window - 1 + batched tokens,
    max_model_len), block) + 1 per sliding group (SlidingWindowSpec.max_memory_usage_bytes).
    Without the hybrid manager sliding layers count as full ones.
    """
    block = layout.block_size
    kv_memory = max(kv_memory, 0.0)
    nf, ns = layout.full_layers, layout.sliding_layers
    req_full = math.ceil(max_model_len / block)
    if ns == 0 or not hybrid_manager or not sliding_window:
        layers_bytes = nf * layout.full_bytes + ns * layout.sliding_bytes
        num_blocks = int(kv_memory // (block * layers_bytes)) if layers_bytes else 0
        return KVCapacity(num_blocks, num_blocks * block, num_blocks / req_full, req_full, 1)
    # page sizes are unified by giving the smaller-page layers a larger block (same bytes/page)
    page = block * max(layout.full_bytes, layout.sliding_bytes)
    small, large = sorted((nf, ns))
    group = large if large < 1.5 * small or small == 0 else small
    full_groups, sliding_groups = math.ceil(nf / group), math.ceil(ns / group)
    groups = full_groups + sliding_groups
    num_blocks = int(kv_memory // page // group)
    window_tokens = min(sliding_window - 1 + max_num_batched_tokens, max_model_len)
    per_request = full_groups * req_full + sliding_groups * (math.ceil(window_tokens / block) + 1)
    tokens = num_blocks // groups * block
    return KVCapacity(num_blocks, tokens, num_blocks / per_request, per_request, groups)


# ---------------------------------------------------------------- the non-KV reserve


def vllm_batch_defaults(gpu_total_gib: float, gpu_name: str = "") -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) of `vllm serve` (EngineArgs.get_batch_defaults).

    GPUs with >= 70 GiB that are not A100s: 8192 and 1024; every other GPU: 2048 and 256.
    """
    if gpu_total_gib >= 70 and "a100" not in gpu_name.lower():
        return 8192, 1024
    return 2048, 256


@dataclass(frozen=True)
class Reserve:
    """Non-KV memory per GPU besides the weights, by component (bytes)."""

    activation: float
    sampler: float
    non_torch: float
    cuda_graphs: float

    @property
    def total(self) -> float:
        return self.activation + self.sampler + self.non_torch + self.cuda_graphs


def vllm_reserve(
    m: ServingModel,
    tp: int,
    pp: int,
    *,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    cuda_graphs_in_budget: bool = True,
    v0: bool = False,
) -> Reserve:
    """The profile run's torch peak (a max_num_batched_tokens forward pass and a dummy sampler
    run), non-torch memory and, since vLLM 0.21, the CUDA graphs (gpu_worker.py,
    determine_available_memory; utils/mem_utils.py, memory_profiling).

    The forward pass peaks in the MLP: per token the gate/up output and the activation
    (3 x the MLP width on this rank) beside two hidden-size tensors, in bf16; a MoE layer holds
    the fused-MoE intermediates of its routed experts (top-k x (3 x expert width + hidden)).
    The V0 logs of bench/data that print the peak (an RTX 3090 at 20,000 and 29,000 tokens)
    grow by 102 KiB per token for Llama 3.1 8B: 2 x (3 x 14,336 + 2 x 4,096) bytes.
    """
    n = max_num_batched_tokens
    if m.experts:
        mlp = m.experts_per_token * (3 * m.expert_width / tp + m.hidden)
        mlp = max(mlp, 3 * m.ffn_width / tp)
    else:
        mlp = 3 * m.ffn_width / tp
    activation = n * 2.0 * (2 * m.hidden + mlp)
    per_logit = V0_SAMPLER_BYTES_PER_LOGIT if v0 else SAMPLER_BYTES_PER_LOGIT
    sampler = min(max_num_seqs, n) * m.vocab * per_logit
    non_torch = (NON_TORCH_GIB + (NON_TORCH_MULTI_GPU_GIB if tp * pp > 1 else 0.0)) * GIB
    graphs = CUDA_GRAPH_GIB * GIB if cuda_graphs_in_budget else 0.0
    return Reserve(activation, sampler, non_torch, graphs)


def sglang_mem_fraction_static(gpu_total_gib: float, tp: int, pp: int = 1) -> float:
    """SGLang's default --mem-fraction-static (server_args.py, _handle_gpu_memory_settings):
    (GPU memory - reserved) / GPU memory, reserved by GPU class and TP x PP."""
    ps = tp * pp
    mib = gpu_total_gib * 1024
    if mib < 35 * 1024:
        reserved = (2.8 + ps / 10) * 1024
    elif mib < 90 * 1024:
        reserved = (9.5 + ps / 2) * 1024
    elif mib < 160 * 1024:
        reserved = (12 + ps / 2) * 1024
    else:
        reserved = 32 * 1024
    return round((mib - reserved) / mib, 3)


# ---------------------------------------------------------------- the whole estimate

Engine = Literal["vllm", "sglang"]


@dataclass(frozen=True)
class ServingSettings:
    """One layout and its engine flags."""

    engine: Engine = "vllm"
    precision: str = "BF16"
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    gpu_memory_utilization: float | None = None  # None: the engine's default
    max_model_len: int = 8192
    kv_cache_dtype: str = "auto"
    max_num_batched_tokens: int | None = None  # None: vLLM's default for the GPU
    max_num_seqs: int | None = None
    cuda_graphs_in_budget: bool = True  # vLLM >= 0.21
    hybrid_kv_manager: bool = True
    v0_engine: bool = False  # vLLM's V0 engine (< 0.10): no dummy sampler run in the profile


@dataclass(frozen=True)
class ServingEstimate:
    """Per GPU of one replica, in bytes, plus what the engine would print."""

    settings: ServingSettings
    gpu_total: float
    utilization: float
    weights: float
    reserve: Reserve
    kv_memory: float
    capacity: KVCapacity
    kv_bytes_per_token: float  # all layers of this rank, full-attention layers' rate
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        """vLLM starts only when one request of max_model_len fits its KV cache."""
        return self.capacity.max_concurrency >= 1.0 and self.kv_memory > 0

    @property
    def gpus(self) -> int:
        return self.settings.tensor_parallel * self.settings.pipeline_parallel


def estimate_serving(
    m: ServingModel, gpu_total_gib: float, settings: ServingSettings, gpu_name: str = ""
) -> ServingEstimate:
    """KV memory, token capacity and concurrency of one replica on GPUs of `gpu_total_gib`."""
    s = settings
    tp, pp = s.tensor_parallel, s.pipeline_parallel
    total = gpu_total_gib * GIB
    weights = weights_per_gpu(m, s.precision, tp, pp)
    layout = kv_layout(m, tp, pp, s.kv_cache_dtype)
    notes: list[str] = []
    if s.engine == "sglang":
        util = s.gpu_memory_utilization or sglang_mem_fraction_static(gpu_total_gib, tp, pp)
        context = SGLANG_CONTEXT_GIB * GIB
        reserve = Reserve(0.0, 0.0, context, 0.0)
        kv_memory = total * util - weights - context
        per_token = layout.full_layers * layout.full_bytes + layout.sliding_layers * (
            layout.sliding_bytes
        )
        tokens = int(kv_memory // per_token) if per_token and kv_memory > 0 else 0
        capacity = KVCapacity(tokens, tokens, tokens / s.max_model_len, s.max_model_len, 1)
        notes.append(
            "SGLang sizes its token pool as total x mem_fraction_static - memory in use after "
            "loading (model_runner.py, profile_max_num_token); sliding layers counted as full"
        )
        return ServingEstimate(s, total, util, weights, reserve, kv_memory, capacity, per_token)
    default_batched, default_seqs = vllm_batch_defaults(gpu_total_gib, gpu_name)
    batched = s.max_num_batched_tokens or default_batched
    seqs = s.max_num_seqs or default_seqs
    util = s.gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION
    reserve = vllm_reserve(
        m,
        tp,
        pp,
        max_num_batched_tokens=batched,
        max_num_seqs=seqs,
        cuda_graphs_in_budget=s.cuda_graphs_in_budget,
        v0=s.v0_engine,
    )
    kv_memory = total * util - weights - reserve.total
    capacity = vllm_kv_capacity(
        layout,
        kv_memory,
        s.max_model_len,
        sliding_window=m.sliding_window,
        max_num_batched_tokens=batched,
        hybrid_manager=s.hybrid_kv_manager,
    )
    per_token = layout.full_layers * layout.full_bytes + layout.sliding_layers * (
        layout.sliding_bytes
    )
    return ServingEstimate(s, total, util, weights, reserve, kv_memory, capacity, per_token, notes)
