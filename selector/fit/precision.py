"""Weight precisions a candidate can be served at, and what each costs in quality.

Two families: the GGUF presets llama.cpp loads (Q8_0 ... IQ2_XXS, selector/fit/quant.py holds
their sizes) and the serving-checkpoint precisions vLLM and SGLang load (BF16, FP8, AWQ/GPTQ
INT4, MXFP4, NVFP4). The quality cost of each is a published measurement, named with its
source in `QualityCost.basis`; docs/fit.md lists them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from selector.fit.quant import QUANTIZATIONS, normalize_quant

# ---------------------------------------------------------------- serving checkpoints


@dataclass(frozen=True)
class ServingPrecision:
    """Storage of one checkpoint precision: bits per stored weight and which weights are stored so.

    `scope`: "all" (every weight at `bits`), "linear" (the linear layers of the transformer
    blocks; embeddings, output head and norms stay 16-bit, as llm-compressor, AutoAWQ, GPTQ and
    vendor FP8 checkpoints keep them), "experts" (only the routed MoE experts: gpt-oss's MXFP4).
    """

    name: str
    bits: float
    scope: Literal["all", "linear", "experts"]
    vllm_flag: str = ""  # --quantization for an online conversion; "" = read from the checkpoint


# Bits include the scales: AWQ/GPTQ INT4 with group size 128 store a 16-bit scale and a 4-bit
# zero point per 128 weights (4 + 20/128); MXFP4 an 8-bit shared exponent per 32 (4 + 8/32);
# NVFP4 an FP8 scale per 16 (4 + 8/16). FP8 block or channel scales are < 0.1% and left out.
SERVING_PRECISIONS: dict[str, ServingPrecision] = {
    "BF16": ServingPrecision("BF16", 16.0, "all"),
    "FP16": ServingPrecision("FP16", 16.0, "all"),
    "FP8": ServingPrecision("FP8", 8.0, "linear", vllm_flag="fp8"),
    "INT8": ServingPrecision("INT8", 8.0, "linear"),
    "AWQ-INT4": ServingPrecision("AWQ-INT4", 4.0 + 20 / 128, "linear"),
    "GPTQ-INT4": ServingPrecision("GPTQ-INT4", 4.0 + 20 / 128, "linear"),
    "MXFP4": ServingPrecision("MXFP4", 4.25, "experts"),
    "NVFP4": ServingPrecision("NVFP4", 4.5, "linear"),
}

_SERVING_ALIASES = {
    "BFLOAT16": "BF16",
    "FLOAT16": "FP16",
    "F16": "FP16",
    "FP8-DYNAMIC": "FP8",
    "W8A8-FP8": "FP8",
    "W8A8": "INT8",
    "W8A8-INT8": "INT8",
    "AWQ": "AWQ-INT4",
    "INT4-AWQ": "AWQ-INT4",
    "W4A16": "GPTQ-INT4",
    "GPTQ": "GPTQ-INT4",
    "INT4-GPTQ": "GPTQ-INT4",
}


def serving_precision(name: str) -> ServingPrecision | None:
    """The serving precision `name` spells (case and dashes/underscores ignored), or None."""
    key = name.strip().upper().replace("_", "-")
    key = _SERVING_ALIASES.get(key, key)
    return SERVING_PRECISIONS.get(key)


def quantization_family(name: str) -> Literal["gguf", "serving", "both"]:
    """Which engines load `name`: GGUF presets (llama.cpp), checkpoint precisions (vLLM/SGLang).

    BF16, FP16 and MXFP4 are both a GGUF type and a checkpoint precision.
    """
    serving = serving_precision(name) is not None
    try:
        normalize_quant(name)
        gguf = True
    except ValueError:
        gguf = False
    if serving and gguf:
        return "both"
    return "serving" if serving else "gguf"


def normalize_quantization(value: str) -> str:
    """`auto`, a GGUF preset or a serving precision, canonically spelled; ValueError otherwise.

    BF16 and F16 are both: they are returned in their serving spelling (BF16, FP16), which
    llama.cpp sizes identically.
    """
    text = value.strip()
    if text.lower() == "auto":
        return "auto"
    serving = serving_precision(text)
    if serving is not None:
        return serving.name
    try:
        return normalize_quant(text)
    except ValueError:
        names = sorted(set(QUANTIZATIONS) | set(SERVING_PRECISIONS))
        close = difflib.get_close_matches(text.upper(), names, n=1, cutoff=0.6)
        hint = f" Did you mean: {close[0]}?" if close else ""
        raise ValueError(
            f"Unknown quantization {value!r}.{hint} Use 'auto', a GGUF preset "
            f"(Q8_0, Q6_K, Q5_K_M, Q4_K_M, IQ4_XS, ...) or a serving precision "
            f"({', '.join(SERVING_PRECISIONS)})"
        ) from None


def gguf_name(precision: str) -> str:
    """The GGUF preset spelling of a precision llama.cpp can also load (BF16, FP16 -> F16)."""
    return {"FP16": "F16"}.get(precision, precision)


# ---------------------------------------------------------------- quality costs


@dataclass(frozen=True)
class QualityCost:
    """Relative quality lost against the 16-bit original (0.006 = 0.6%), and where it is from."""

    cost: float
    basis: str


LLAMA_CPP_SCOREBOARD = (
    "https://github.com/ggml-org/llama.cpp/blob/master/tools/perplexity/README.md"
)
# llama.cpp's LLaMA 3 8B scoreboard (tools/perplexity/README.md, revision f364eb6f, CUDA, against
# FP16): mean change of the probability given to the correct token ("Mean Δp") and the mean KL
# divergence. K-quants and legacy types: the rows without an importance matrix; IQ types need
# one and are measured with the 10M-token Wikitext matrix ("WT 10m"). The quality cost taken is
# -Mean Δp: the share of probability mass the right answer loses, a direct proxy for accuracy.
GGUF_SCOREBOARD: dict[str, tuple[float, float]] = {  # preset -> (mean Δp %, mean KLD)
    "F16": (0.001, 0.000551),
    "Q8_0": (-0.019, 0.001355),
    "Q6_K": (-0.007, 0.005452),
    "Q5_K_M": (-0.114, 0.010762),
    "Q5_K_S": (-0.223, 0.016595),
    "Q5_1": (-0.287, 0.018045),
    "Q5_0": (-0.416, 0.022239),
    "Q4_K_M": (-0.596, 0.031273),
    "Q4_K_S": (-0.927, 0.043136),
    "IQ4_NL": (-0.590, 0.035742),
    "IQ4_XS": (-0.668, 0.036334),
    "Q4_1": (-0.927, 0.071683),
    "Q4_0": (-1.588, 0.071940),
    "Q3_K_L": (-1.532, 0.087176),
    "Q3_K_M": (-1.990, 0.101913),
    "IQ3_M": (-3.178, 0.102534),
    "IQ3_S": (-3.066, 0.111278),
    "IQ3_XS": (-3.667, 0.138693),
    "IQ3_XXS": (-3.918, 0.183625),
    "Q3_K_S": (-5.604, 0.228217),
    "IQ2_M": (-6.463, 0.325989),
    "Q2_K": (-9.123, 0.445132),
    "IQ2_S": (-8.319, 0.439197),
    "IQ2_XS": (-10.576, 0.546290),
    "IQ2_XXS": (-14.363, 0.812022),
    "IQ1_M": (-24.672, 1.393084),
    "IQ1_S": (-31.973, 2.254554),
}

# The GGUF ladder `quantization = "auto"` walks for llama.cpp, best first. A preset that is both
# larger and worse than a lower one (Q2_K beside IQ3_XXS) is never picked by the walk.
GGUF_LADDER = (
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q4_K_M",
    "IQ4_XS",
    "Q3_K_M",
    "IQ3_M",
    "IQ3_XXS",
    "Q2_K",
    "IQ2_M",
    "IQ2_XS",
    "IQ2_XXS",
)

FP8_CARD = "https://huggingface.co/neuralmagic/Meta-Llama-3.1-405B-Instruct-FP8-dynamic"
BF16_OR_DEATH = "https://arxiv.org/abs/2411.02355"

SERVING_COSTS: dict[str, QualityCost] = {
    "BF16": QualityCost(0.0, "the released 16-bit weights"),
    "FP16": QualityCost(0.0, "16-bit weights"),
    "FP8": QualityCost(
        0.0003,
        f"FP8 W8A8 recovers 99.97% of the 16-bit OpenLLM v1 average ({FP8_CARD}); "
        f"'FP8 is lossless across all model scales' (Kurtic et al. 2024, {BF16_OR_DEATH})",
    ),
    "INT8": QualityCost(
        0.02,
        f"INT8 W8A8 'incurs surprisingly low 1-3% accuracy degradation' (Kurtic et al. 2024, "
        f"{BF16_OR_DEATH}); 2% taken (the middle)",
    ),
    "AWQ-INT4": QualityCost(
        0.02,
        "INT4 weight-only 'competitive with INT8 W8A8', which loses 1-3% "
        f"(Kurtic et al. 2024, {BF16_OR_DEATH}); 2% taken (the middle), not measured per model",
    ),
    "GPTQ-INT4": QualityCost(
        0.02,
        "INT4 weight-only 'competitive with INT8 W8A8', which loses 1-3% "
        f"(Kurtic et al. 2024, {BF16_OR_DEATH}); 2% taken (the middle), not measured per model",
    ),
    "NVFP4": QualityCost(
        0.02,
        "4-bit: taken as the INT4 weight-only figure (no vendor-independent measurement read)",
    ),
    "MXFP4": QualityCost(
        0.02,
        "4-bit expert weights: taken as the INT4 weight-only figure; 0 where MXFP4 is the "
        "model's released format",
    ),
}


def quality_cost(precision: str, *, native: bool = False) -> QualityCost:
    """The published quality cost of serving at `precision` (a GGUF preset or a checkpoint).

    `native`: the model was released in this precision (gpt-oss MXFP4, DeepSeek FP8), so its
    published scores already include it: no cost.
    """
    if native:
        return QualityCost(0.0, f"{precision} is the model's released format: scores include it")
    serving = serving_precision(precision)
    if serving is not None:
        return SERVING_COSTS[serving.name]
    preset = normalize_quant(precision)
    if preset in ("F16", "BF16", "F32"):
        return QualityCost(0.0, "16-bit GGUF")
    if preset == "MXFP4":
        return SERVING_COSTS["MXFP4"]
    row = GGUF_SCOREBOARD.get(preset)
    if row is None:
        return QualityCost(0.05, f"{preset}: not on llama.cpp's scoreboard; 5% assumed")
    delta_p, kld = row
    return QualityCost(
        max(-delta_p, 0.0) / 100,
        f"{preset}: mean Δp {delta_p:+.3f}%, KLD {kld:.4f} vs FP16 on LLaMA 3 8B "
        f"(llama.cpp scoreboard, {LLAMA_CPP_SCOREBOARD})",
    )
