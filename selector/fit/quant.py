"""Bits per weight of llama.cpp's GGUF tensor types and quantization presets."""

from __future__ import annotations

import difflib

# Bytes per block and weights per block of each ggml tensor type, as ggml/src/ggml.c
# `type_traits` declares them (the same table as `gguf.GGML_QUANT_SIZES`, which a test checks).
GGML_TYPE_SIZES: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q8_0": (32, 34),
    "Q5_1": (32, 24),
    "Q5_0": (32, 22),
    "Q4_1": (32, 20),
    "Q4_0": (32, 18),
    "IQ4_NL": (32, 18),
    "MXFP4": (32, 17),
    "Q6_K": (256, 210),
    "Q5_K": (256, 176),
    "Q4_K": (256, 144),
    "IQ4_XS": (256, 136),
    "Q3_K": (256, 110),
    "IQ3_S": (256, 110),
    "IQ3_XXS": (256, 98),
    "Q2_K": (256, 84),
    "IQ2_S": (256, 82),
    "IQ2_XS": (256, 74),
    "IQ2_XXS": (256, 66),
    "IQ1_M": (256, 56),
    "IQ1_S": (256, 50),
    "TQ2_0": (256, 66),
    "TQ1_0": (256, 54),
}


def type_bits_per_weight(ggml_type: str) -> float:
    """Storage bits per weight of one ggml tensor type (block bytes x 8 / block weights)."""
    block, size = GGML_TYPE_SIZES[ggml_type.upper()]
    return size * 8 / block


# llama.cpp's tools/quantize/quantize.cpp lists each preset's file size for Llama-3-8B
# (8,030,261,248 parameters) in GiB; a preset is a mix (embeddings, attn_v, ffn_down and the
# output layer are kept wider), so its effective bits per weight is that size x 2^30 x 8 / params.
LLAMA3_8B_PARAMS = 8_030_261_248
QUANTIZE_CPP_LLAMA3_8B_GIB: dict[str, float] = {
    "Q8_0": 7.96,
    "Q6_K": 6.14,
    "Q5_K_M": 5.33,
    "Q5_K_S": 5.21,
    "Q5_1": 5.65,
    "Q5_0": 5.21,
    "Q4_K_M": 4.58,
    "Q4_K_S": 4.37,
    "Q4_1": 4.78,
    "Q4_0": 4.34,
    "Q3_K_L": 4.03,
    "Q3_K_M": 3.74,
    "Q3_K_S": 3.41,
    "Q2_K": 2.96,
    "Q2_K_S": 2.96,
}

# Presets quantize.cpp gives as bits per weight (its text: "4.25 bpw non-linear quantization"),
# and the unquantized types, whose size is exact.
_PRESET_BPW_STATED: dict[str, float] = {
    "F32": 32.0,
    "F16": 16.0,
    "BF16": 16.0,
    "IQ4_NL": 4.50,
    "IQ4_XS": 4.25,
    "IQ3_M": 3.66,
    "IQ3_S": 3.44,
    "IQ3_XS": 3.3,
    "IQ3_XXS": 3.06,
    "IQ2_M": 2.7,
    "IQ2_S": 2.5,
    "IQ2_XS": 2.31,
    "IQ2_XXS": 2.06,
    "IQ1_M": 1.75,
    "IQ1_S": 1.56,
    "TQ2_0": 2.06,
    "TQ1_0": 1.69,
    # MXFP4 (gpt-oss): the MXFP4 type is 17 bytes per 32 weights; the non-expert tensors of
    # an MXFP4_MOE file stay wider, so whole files come out ~5-10% larger (read the GGUF).
    "MXFP4": 4.25,
}


def _preset_table() -> dict[str, float]:
    table = dict(_PRESET_BPW_STATED)
    for name, gib in QUANTIZE_CPP_LLAMA3_8B_GIB.items():
        table[name] = round(gib * 2**30 * 8 / LLAMA3_8B_PARAMS, 2)
    return table


QUANTIZATIONS: dict[str, float] = _preset_table()
"""Preset name -> effective bits per weight of the whole file (see docs/fit.md)."""

_ALIASES = {
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "Q3_K": "Q3_K_M",
    "MXFP4_MOE": "MXFP4",
    "FP16": "F16",
    "FP32": "F32",
    "Q8": "Q8_0",
}

# llama.cpp `general.file_type` (enum llama_ftype in include/llama.h) -> preset name.
FILE_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4",
}  # fmt: skip


def normalize_quant(name: str) -> str:
    """Canonical preset name for `name` (case-insensitive); ValueError with a hint otherwise."""
    key = name.strip().upper().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in QUANTIZATIONS:
        return key
    close = difflib.get_close_matches(key, list(QUANTIZATIONS), n=1, cutoff=0.6)
    hint = f" Did you mean: {close[0]}?" if close else ""
    raise ValueError(
        f"Unknown quantization {name!r}.{hint} Available: {', '.join(sorted(QUANTIZATIONS))}"
    )


def bits_per_weight(quantization: str) -> float:
    """Effective bits per weight of a preset, after normalising its name."""
    return QUANTIZATIONS[normalize_quant(quantization)]


# KV cache element types llama.cpp accepts for --cache-type-k/-v (common/arg.cpp).
# CPU decode time per byte of a weight type, relative to the bandwidth-bound types. Q5_0 and
# Q5_1 have no repacked layout and a slower dot product (the fifth bit is unpacked per block),
# so on a few threads their matmuls are compute-bound: 1.70-1.75x Q8_0's time per byte in two
# runs of bench/quant_types.py (2 threads, 2-core AMD EPYC). Q6_K measured 1.08x; Q4_0 and
# Q4_K_M 0.4-1.1x, unresolved from run to run, so they count at 1.0 like every other type.
# Q5_0 matters where a K-quant preset falls back to it for rows that do not divide by 256
# (Gemma 3 270M, n_embd 640, reads 16% of its bytes per token as Q5_0 in Q4_K_M).
CPU_SLOW_KERNEL_TIME = {"Q5_0": 1.75, "Q5_1": 1.75}


KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def kv_bytes_per_element(kv_cache_type: str) -> float:
    """Bytes per cached K or V value; ValueError for a type llama.cpp does not offer."""
    key = kv_cache_type.strip().lower()
    if key not in KV_CACHE_TYPES:
        raise ValueError(
            f"Unknown KV cache type {kv_cache_type!r}. Available: {', '.join(KV_CACHE_TYPES)}"
        )
    return type_bits_per_weight(key.upper()) / 8
