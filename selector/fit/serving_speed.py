"""Decode speed and time to first token of a vLLM/SGLang replica (docs/fit.md).

One decode step reads the (routed) weights once and every session's KV cache, spread over the
tensor-parallel ranks; prefill is compute-bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from selector.fit.precision import SERVING_PRECISIONS
from selector.fit.serving import (
    KVLayout,
    ServingEstimate,
    ServingModel,
    kv_layout,
    weight_bytes,
)

# Fraction of peak HBM bandwidth a vLLM decode step reaches (assumed; no GPU here), plus
# per-step fixed costs (scheduling, sampling) and per-layer all-reduce latency when TP > 1.
VLLM_DECODE_EFFICIENCY = 0.6
STEP_OVERHEAD_S = 0.0005
ALLREDUCE_S_PER_LAYER = 0.00002
PREFILL_EFFICIENCY = 0.5


def kv_read_per_session(m: ServingModel, layout: KVLayout, context: int) -> float:
    """KV bytes one session's decode step reads on one GPU at `context` tokens."""
    sliding_cells = min(context, m.sliding_window or context)
    return layout.full_layers * layout.full_bytes * context + (
        layout.sliding_layers * layout.sliding_bytes * sliding_cells
    )


def weights_read_per_step(m: ServingModel, precision: str, tp: int, sessions: int) -> float:
    """Weight bytes one decode step reads per GPU with `sessions` tokens in the batch.

    A dense model reads everything once per step. A MoE model reads its shared part and the
    experts the batch's tokens are routed to: 1 - (1 - k/E)^sessions of them in expectation.
    """
    total = weight_bytes(m, precision)
    if not m.experts:
        return total / tp
    experts = m.expert_params * SERVING_PRECISIONS[precision].bits / 8
    touched = 1 - (1 - m.experts_per_token / m.experts) ** max(sessions, 1)
    return (total - experts + experts * touched) / tp


@dataclass(frozen=True)
class DecodeEstimate:
    per_session_tokens_per_s: float
    aggregate_tokens_per_s: float
    basis: str


def decode_estimate(
    m: ServingModel,
    estimate: ServingEstimate,
    bandwidth_gb_s: float,
    sessions: int,
    context: int,
) -> DecodeEstimate:
    """Per-session tokens/s at `sessions` concurrent decodes: one step reads the (routed)
    weights once and every session's KV cache, spread over the TP ranks; PP stages run one
    after another for a token, so they add no bandwidth to it."""
    s = estimate.settings
    tp = s.tensor_parallel
    layout = kv_layout(m, tp, 1, s.kv_cache_dtype)
    weights = weights_read_per_step(m, s.precision, tp, sessions)
    kv = kv_read_per_session(m, layout, context) * sessions
    step_bytes = weights + kv
    seconds = step_bytes / (bandwidth_gb_s * 1e9 * VLLM_DECODE_EFFICIENCY)
    overhead = STEP_OVERHEAD_S + (ALLREDUCE_S_PER_LAYER * m.layers * 2 if tp > 1 else 0.0)
    step = seconds + overhead
    basis = (
        f"{bandwidth_gb_s:g} GB/s per GPU x {VLLM_DECODE_EFFICIENCY:g} efficiency (assumed) / "
        f"{step_bytes / 1e9:.3g} GB per step per GPU ({weights / 1e9:.3g} GB weights + "
        f"{kv / 1e9:.3g} GB KV for {sessions} session(s) at {context:,} tokens) + "
        f"{overhead * 1000:.2g} ms step overhead; TP {tp}"
    )
    return DecodeEstimate(1.0 / step, sessions / step, basis)


def prefill_ms(m: ServingModel, tp: int, tflops: float | None, prompt_tokens: int) -> float | None:
    """Time to first token of one prompt: 2 FLOPs per active parameter and token over TP GPUs."""
    if not tflops:
        return None
    flops = 2.0 * m.active_params * prompt_tokens
    return flops / (tp * tflops * 1e12 * PREFILL_EFFICIENCY) * 1000
