"""Memory a llama.cpp process needs: weights, KV cache, compute buffers and runtime overhead.

Every formula follows the llama.cpp source vendored in llama-cpp-python 0.3.36; docs/fit.md
names the file and function each comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selector.catalog.schema import ModelEntry
from selector.fit.quant import bits_per_weight, kv_bytes_per_element

MIB = 2**20
GIB = 2**30

# Defaults where the catalog entry leaves a dimension out (used only for the compute buffer).
DEFAULT_VOCAB = 128_000
# Resident memory of the process before the weights: Python with llama_cpp and selector's
# smoke child imported, plus llama.cpp's fixed model/context bookkeeping. The intercept of the
# smoke child's measured peaks (VmHWM) at n_ctx 512 over the generated models and Gemma 3 270M
# (bench/fit_accuracy.py, 57 MiB on 2026-11-23), plus 22 MiB since the child runs suite v2:
# its JSON Schema checker imports jsonschema, about 2 MiB alone and 20 MiB with the optional
# format libraries the dev extra installs (measured on three generated models at n_ctx 512
# and 8192: +21.6 to +22.0 MiB each). A plain install and llama-server start lower, so the
# figure errs on the safe side there.
PROCESS_BASE_BYTES = 79 * MIB
# Vocabulary tables (token strings, token->id map, piece cache, llama-cpp-python's sampling
# arrays) per vocabulary entry: the slope of the unexplained RSS over generated GGUFs with
# 8k to 128k tokens (docs/fit.md).
VOCAB_BYTES_PER_TOKEN = 230
# KV cells are padded to 256 (llama-context.cpp: `cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)`).
KV_PAD = 256


@dataclass(frozen=True)
class LayerKV:
    """Values cached per token in one layer: K width, V width (0 = no V tensor), sliding or not.

    `attn_width`: multiply-adds per attended cell for one decoded token, query heads x (key
    length + value length): the attention compute, which tracks query heads, not KV bytes.
    0 = unknown, taken as K + V width (one query head per KV head).
    """

    k_width: int
    v_width: int
    sliding: bool = False
    attn_width: int = 0

    @property
    def macs_per_cell(self) -> int:
        return self.attn_width or self.k_width + self.v_width


@dataclass(frozen=True)
class ModelShape:
    """What the memory and speed formulas read, from a catalog entry or from a GGUF file."""

    n_layers: int
    n_embd: int
    n_vocab: int
    n_head: int
    n_ff: int
    kv_layers: tuple[LayerKV, ...]
    sliding_window: int | None
    weights_bytes: float
    active_weights_bytes: float
    active_params: float
    embedding_params: float
    output_params: float
    embedding_bytes: float = 0.0
    tied_embeddings: bool = False
    repack_bytes: float = 0.0
    # Extra bytes-equivalent a CPU decode pays for weight types with a slow kernel
    # (quant.CPU_SLOW_KERNEL_TIME): bytes read per token x (time factor - 1). GGUF only.
    cpu_slow_kernel_extra_bytes: float = 0.0
    recurrent_state_bytes: float = 0.0
    basis: str = ""
    layer_bytes: tuple[float, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RuntimeSettings:
    """The llama.cpp context parameters that change memory; defaults are llama-server's."""

    n_ubatch: int = 512
    flash_attn: bool = True  # llama-server: `-fa auto`, on wherever the backend supports it
    swa_full: bool = False
    kv_cache_type: str = "f16"
    prompt_tokens: int | None = None  # longest prompt processed; None: it may fill n_ctx
    n_seq: int = 1


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per component; `allocation` is what llama.cpp reserves, `resident` what RSS shows."""

    weights: float
    kv_cache: float
    compute_reserved: float
    compute_touched: float
    overhead: float
    repack: float

    @property
    def allocation(self) -> float:
        return self.weights + self.repack + self.kv_cache + self.compute_reserved + self.overhead

    @property
    def resident(self) -> float:
        return self.weights + self.repack + self.kv_cache + self.compute_touched + self.overhead


def pad(value: int, to: int) -> int:
    """`value` rounded up to a multiple of `to`, as GGML_PAD does."""
    return -(-value // to) * to


def shape_from_catalog(model: ModelEntry, quantization: str) -> ModelShape:
    """Dimensions from the catalog entry, weights from parameters x preset bits per weight."""
    att = model.attention
    bpw = bits_per_weight(quantization)
    n_embd = model.hidden_size or att.heads * att.head_dim
    layers: list[LayerKV] = []
    if att.compressed:
        layers += compressed_kv_layers(model)
    elif att.mla_kv_dim:
        # llama.cpp keeps only the latent (K) for MLA: `has_v = !is_mla` (llama-kv-cache.cpp).
        # Each head attends over the latent for K and (less the RoPE part) for V: ~2x its width.
        layers += [LayerKV(att.mla_kv_dim, 0, attn_width=att.heads * 2 * att.mla_kv_dim)] * (
            model.global_layers
        )
    else:
        # llama.cpp allocates V even where the model shares K and V (Gemma 4 global layers).
        width = att.kv_heads * att.head_dim
        layers += [
            LayerKV(width, width, attn_width=att.heads * 2 * att.head_dim)
        ] * model.global_layers
    if att.sliding_layers and not att.compressed:
        s_dim = att.sliding_head_dim or att.head_dim
        s_width = (att.sliding_kv_heads or att.kv_heads) * s_dim
        layers += [
            LayerKV(s_width, s_width, sliding=True, attn_width=att.heads * 2 * s_dim)
        ] * att.sliding_layers
    weights = model.params_b * 1e9 * bpw / 8
    active = model.active_b * 1e9 * bpw / 8
    vocab = model.vocab_size or DEFAULT_VOCAB
    embedding_params = vocab * n_embd if model.vocab_size and model.hidden_size else 0.0
    return ModelShape(
        n_layers=model.layers,
        n_embd=n_embd,
        n_vocab=vocab,
        n_head=att.heads,
        n_ff=4 * n_embd,
        kv_layers=tuple(layers),
        sliding_window=att.sliding_window,
        weights_bytes=weights,
        active_weights_bytes=active,
        active_params=model.active_b * 1e9,
        embedding_params=embedding_params,
        # The catalog does not say whether the output head is tied to the embedding; an
        # untied head is assumed (the larger FLOPs, so the longer time to first token).
        output_params=embedding_params,
        embedding_bytes=embedding_params * bpw / 8,
        basis=f"catalog architecture: {model.params_b:g}B parameters x {bpw:g} bits per weight "
        f"({quantization} preset average)",
    )


def compressed_kv_layers(model: ModelEntry) -> list[LayerKV]:
    """DeepSeek V4's cache: a sliding window on every layer plus pooled rows on compressed ones.

    Every layer keeps its last `sliding_window` tokens as one shared K=V row per KV head
    (`head_dim` wide; vLLM's MLAAttentionSpec for V4 has no separate V). A compressed layer adds
    one row per `ratio` tokens, and a CSA layer also one indexer key (`indexer_head_dim`) per
    row. A pooled row is modelled as a full-context layer 1/ratio as wide, so kv_cells and the
    speed model need no change; the attention width is an upper bound, since CSA reads only the
    indexer's top-k rows.
    """
    att = model.attention
    width = att.kv_heads * att.head_dim
    v_width = 0 if att.shared_kv else width
    layers = [
        LayerKV(width, v_width, sliding=True, attn_width=att.heads * 2 * att.head_dim)
    ] * att.sliding_layers
    for group in att.compressed:
        row = -(-width // group.ratio) + -(-group.indexer_head_dim // group.ratio)
        attn = -(-att.heads * 2 * att.head_dim // group.ratio)
        layers += [LayerKV(row, 0, attn_width=attn)] * group.layers
    return layers


def kv_cells(layer: LayerKV, shape: ModelShape, n_ctx: int, rt: RuntimeSettings) -> int:
    """KV cells of one layer for all n_seq sequences of n_ctx each (one unified cache).

    n_ctx x n_seq padded to 256; sliding layers capped unless swa_full.
    """
    cells = pad(n_ctx, KV_PAD) * max(rt.n_seq, 1)
    if layer.sliding and shape.sliding_window and not rt.swa_full:
        # llama-kv-cache-iswa.cpp: size_swa = PAD(min(size_base, n_swa*n_seq + n_ubatch), 256)
        cells = pad(min(cells, shape.sliding_window * rt.n_seq + rt.n_ubatch), KV_PAD)
    return cells


def kv_cache_bytes(shape: ModelShape, n_ctx: int, rt: RuntimeSettings) -> float:
    """Sum over layers of cells x (K width + V width) x bytes per element of the cache type.

    Without flash attention the V cache is stored transposed and every layer's V is padded to
    the widest layer's (llama-kv-cache.cpp, TAG_V_CACHE_VARIABLE); quantized V needs flash
    attention, so llama.cpp falls back to f16 V without it (llama-context.cpp).
    """
    k_bytes = kv_bytes_per_element(rt.kv_cache_type)
    v_type = rt.kv_cache_type
    if not rt.flash_attn and rt.kv_cache_type.lower().startswith(("q", "iq")):
        v_type = "f16"
    v_bytes = kv_bytes_per_element(v_type)
    v_max = max((lay.v_width for lay in shape.kv_layers), default=0)
    total = 0.0
    for lay in shape.kv_layers:
        cells = kv_cells(lay, shape, n_ctx, rt)
        v_width = lay.v_width if (rt.flash_attn or lay.v_width == 0) else v_max
        total += cells * (lay.k_width * k_bytes + v_width * v_bytes)
    return total + shape.recurrent_state_bytes * rt.n_seq


def _attention_scores_per_token(shape: ModelShape, n_kv: int, rt: RuntimeSettings) -> float:
    """f32 KQ scores per token: n_head x n_kv, unless flash attention tiles them away."""
    return 0.0 if rt.flash_attn else float(shape.n_head * n_kv)


def compute_reserved_bytes(shape: ModelShape, n_ctx: int, rt: RuntimeSettings) -> float:
    """The compute buffer llama.cpp reserves for its worst-case graph (sched_reserve).

    The worst case is a full micro-batch (n_ubatch tokens, every one an output): the larger of
    the logits phase (f32 [n_vocab + 2 n_embd] per token) and a layer's phase (residual, Q/K/V,
    KQ scores over the whole cache, FFN intermediates), all f32.
    """
    n_tok = min(rt.n_ubatch, pad(n_ctx, KV_PAD))
    n_kv = pad(n_ctx, KV_PAD)
    logits_phase = 4.0 * n_tok * (shape.n_vocab + 2 * shape.n_embd)
    layer_phase = (
        4.0
        * n_tok
        * (4 * shape.n_embd + _attention_scores_per_token(shape, n_kv, rt) + 2 * shape.n_ff)
    )
    return max(logits_phase, layer_phase)


def compute_touched_bytes(shape: ModelShape, n_ctx: int, rt: RuntimeSettings) -> float:
    """The part of the compute buffer a CPU process actually writes, so the part RSS counts.

    The buffer is malloc'd but pages are only made resident when written. A prompt is
    processed in micro-batches of up to n_ubatch tokens, each with a single output row of
    logits; the attention scores of a micro-batch span the cells used so far, padded to 256
    (llama_kv_cache::get_n_kv). Bounded by the largest micro-batch over the longest prompt.
    """
    prompt = n_ctx if rt.prompt_tokens is None else min(rt.prompt_tokens, n_ctx)
    n_tok = max(1, min(prompt, rt.n_ubatch))
    n_kv = pad(max(prompt, 1), KV_PAD)
    layer_phase = (
        4.0
        * n_tok
        * (4 * shape.n_embd + _attention_scores_per_token(shape, n_kv, rt) + 2 * shape.n_ff)
    )
    return layer_phase + 4.0 * (shape.n_vocab + 2 * shape.n_embd)


def overhead_bytes(shape: ModelShape, rt: RuntimeSettings) -> float:
    """Process base, vocabulary tables and the output (logits) buffer of llama_context."""
    output_buffer = 4.0 * shape.n_vocab * max(1, rt.n_seq)
    return PROCESS_BASE_BYTES + VOCAB_BYTES_PER_TOKEN * shape.n_vocab + output_buffer


def memory_breakdown(shape: ModelShape, n_ctx: int, rt: RuntimeSettings) -> MemoryBreakdown:
    """All components for one context size and runtime settings."""
    return MemoryBreakdown(
        weights=shape.weights_bytes,
        kv_cache=kv_cache_bytes(shape, n_ctx, rt),
        compute_reserved=compute_reserved_bytes(shape, n_ctx, rt),
        compute_touched=compute_touched_bytes(shape, n_ctx, rt),
        overhead=overhead_bytes(shape, rt),
        repack=shape.repack_bytes,
    )
