"""Model shape from a GGUF file: real tensor bytes and types, KV dimensions from metadata.

The header is read by selector/gguf_header.py (fast: it skips the tokenizer's strings).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from selector.fit.memory import LayerKV, ModelShape
from selector.fit.quant import CPU_SLOW_KERNEL_TIME, FILE_TYPE_NAMES
from selector.gguf_header import (
    ArrayInfo,
    GGUFFormatError,
    GGUFHeader,
    TensorInfo,
    read_gguf_header,
)


def _per_layer(value: Any, n_layers: int, default: int) -> list[int]:
    if value is None:
        return [default] * n_layers
    if isinstance(value, list):
        return [int(v) for v in value] + [int(value[-1])] * (n_layers - len(value))
    return [int(value)] * n_layers


# Sliding-window pattern llama.cpp hard-codes per architecture when the GGUF has no
# `sliding_window_pattern` (src/models/<arch>.cpp: load_swa_pattern(ml, N[, dense_first])).
SWA_PATTERNS: dict[str, tuple[int, bool]] = {
    "gemma2": (2, False), "gemma3": (6, False), "gemma3n": (5, False),
    "gemma-embedding": (6, False), "cohere2": (4, False), "llama4": (4, False),
    "gpt-oss": (2, False), "exaone4": (4, False), "olmo2": (4, False), "plamo3": (8, False),
}  # fmt: skip


def sliding_layers(header: GGUFHeader, n_layers: int) -> list[bool]:
    """Which layers use the sliding window, as llama_hparams::set_swa_pattern decides."""
    if not header.arch_key("attention.sliding_window"):
        return [False] * n_layers
    pattern = header.arch_key("attention.sliding_window_pattern")
    if isinstance(pattern, list):
        return [bool(v) for v in pattern][:n_layers] + [False] * max(0, n_layers - len(pattern))
    arch = header.metadata.get("general.architecture", "")
    n_pat, dense_first = SWA_PATTERNS.get(arch, (0, False))
    if isinstance(pattern, int):
        n_pat = pattern
    if n_pat == 0:
        return [False] * n_layers  # unknown: count every layer as full (the larger cache)
    if dense_first:
        return [il % n_pat != 0 for il in range(n_layers)]
    return [il % n_pat < n_pat - 1 for il in range(n_layers)]


def _repacked(t: TensorInfo, machine: str) -> bool:
    """Tensors the CPU backend copies into its repacked buffer (ggml-cpu/repack.cpp).

    x86 with AVX2: Q4_0, Q4_K, IQ4_NL, MXFP4 matmul weights whose rows divide by 8 (Q2_K needs
    AVX-512, left out); ARM adds Q5_K, Q6_K and Q8_0. The input embedding is a row lookup and
    is never repacked.
    """
    if len(t.shape) < 2 or t.name == "token_embd.weight" or t.shape[1] % 8:
        return False
    types = {"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}
    if machine in ("arm64", "aarch64"):
        types |= {"Q5_K", "Q6_K", "Q8_0"}
    return t.type_name in types


def shape_from_gguf(path: Path, *, cpu_repack: bool = True) -> ModelShape:
    """Weights from the real tensor bytes; attention dimensions from the GGUF metadata."""
    header = read_gguf_header(path)
    meta = header.metadata
    n_layers = int(header.arch_key("block_count", 0))
    n_embd = int(header.arch_key("embedding_length", 0))
    if not n_layers or not n_embd:
        arch = meta.get("general.architecture")
        raise GGUFFormatError(f"{path}: no block_count/embedding_length for architecture {arch!r}")
    heads = _per_layer(header.arch_key("attention.head_count"), n_layers, 1)
    kv_heads = _per_layer(header.arch_key("attention.head_count_kv"), n_layers, heads[0])
    head_dim = n_embd // max(heads[0], 1)
    k_len = int(header.arch_key("attention.key_length", head_dim))
    v_len = int(header.arch_key("attention.value_length", head_dim))
    k_len_swa = int(header.arch_key("attention.key_length_swa", k_len))
    v_len_swa = int(header.arch_key("attention.value_length_swa", v_len))
    is_mla = header.arch_key("attention.key_length_mla") is not None
    swa = sliding_layers(header, n_layers)
    shared = int(header.arch_key("attention.shared_kv_layers", 0) or 0)
    n_ff = max(_per_layer(header.arch_key("feed_forward_length"), n_layers, 4 * n_embd))
    layers: list[LayerKV] = []
    for il in range(n_layers - shared):
        if kv_heads[il] == 0:  # recurrent / linear-attention layer
            continue
        kl, vl = (k_len_swa, v_len_swa) if swa[il] else (k_len, v_len)
        v_width = 0 if is_mla else vl * kv_heads[il]
        attn = heads[il] * (kl + vl)  # MLA: the latent (K) and its V part, per query head
        layers.append(LayerKV(kl * kv_heads[il], v_width, sliding=swa[il], attn_width=attn))

    tensors = {t.name: t for t in header.tensors}
    weights = float(sum(t.n_bytes for t in header.tensors))
    embd = tensors.get("token_embd.weight")
    tokens = meta.get("tokenizer.ggml.tokens")
    n_vocab = tokens.count if isinstance(tokens, ArrayInfo) else (embd.shape[1] if embd else 0)
    tied = "output.weight" not in tensors
    active = weights
    experts = int(header.arch_key("expert_count", 0) or 0)
    used = int(header.arch_key("expert_used_count", 0) or 0)
    if experts and used:
        expert_bytes = sum(t.n_bytes for t in header.tensors if "_exps." in t.name)
        active = weights - expert_bytes * (1 - used / experts)
    params = sum(t.numel for t in header.tensors)
    active_params = params * active / max(weights, 1.0)
    embd_params = float(embd.numel) if embd else 0.0
    out = tensors.get("output.weight")
    machine = platform.machine().lower()
    repack = (
        float(sum(t.n_bytes for t in header.tensors if _repacked(t, machine)))
        if cpu_repack
        else 0.0
    )
    ftype = FILE_TYPE_NAMES.get(int(meta.get("general.file_type", -1)), "?")
    slow_extra = 0.0
    for t in header.tensors:
        factor = CPU_SLOW_KERNEL_TIME.get(t.type_name, 1.0)
        if factor == 1.0 or (t.name == "token_embd.weight" and not tied):
            continue  # an untied input embedding is a row lookup, not a matmul
        share = used / experts if experts and used and "_exps." in t.name else 1.0
        slow_extra += t.n_bytes * share * (factor - 1.0)
    return ModelShape(
        n_layers=n_layers,
        n_embd=n_embd,
        n_vocab=n_vocab,
        n_head=max(heads),
        n_ff=n_ff,
        kv_layers=tuple(layers),
        sliding_window=int(header.arch_key("attention.sliding_window", 0) or 0) or None,
        weights_bytes=weights,
        active_weights_bytes=active,
        active_params=active_params,
        embedding_params=embd_params,
        output_params=float(out.numel) if out else embd_params,
        embedding_bytes=float(embd.n_bytes) if embd else 0.0,
        tied_embeddings=tied,
        repack_bytes=repack,
        cpu_slow_kernel_extra_bytes=slow_extra,
        basis=f"GGUF tensors: {path.name} ({ftype}, {weights / 2**30:.3f} GiB of tensors, "
        f"{params / 1e9:.3f}B parameters)",
    )
