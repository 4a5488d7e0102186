"""The timed decode through an endpoint: one streamed completion's figures, and their medians.

Kept apart from the probe suite's requests (selector.smoke.endpoint): what is timed, and how
a figure the stream could not give stays None instead of becoming a 0 that reads as measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from selector.smoke.sse import StreamedCompletion

# Asked of the server for the timed decode so it does not stop before `speed_tokens`:
# llama.cpp's server and vLLM take `ignore_eos`; vLLM and llama_cpp.server take `min_tokens`
# (https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md,
# https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html, "Extra Parameters").
# A server that refuses them (HTTP 400/422, e.g. OpenAI itself) is asked again without.
NO_EARLY_STOP = ("ignore_eos", "min_tokens")


@dataclass(frozen=True)
class SpeedFigures:
    """Latency and throughput from one streamed completion, and where the token count came from.

    A figure the stream could not give (no tokens, one token, no usage) is None, not 0.
    """

    time_to_first_token_ms: float | None
    decode_tokens_per_s: float | None
    prefill_tokens_per_s: float | None
    prompt_tokens: int | None
    speed_tokens: int
    note: str
    source: str = ""


def speed_figures(streamed: StreamedCompletion) -> SpeedFigures:
    """TTFT from request to first token; decode speed over the tokens after the first."""
    tokens, source = streamed.completion_tokens
    if streamed.first_token_at is None or streamed.last_token_at is None:
        return SpeedFigures(None, None, None, None, 0, "speed run produced no tokens", source)
    ttft_s = max(streamed.first_token_at - streamed.sent_at, 0.0)
    span = streamed.last_token_at - streamed.first_token_at
    decode = round((tokens - 1) / span, 2) if tokens >= 2 and span > 0 else None
    prompt_tokens = streamed.prompt_tokens
    prefill = round(prompt_tokens / ttft_s, 1) if prompt_tokens and ttft_s > 0 else None
    note = f"decode speed over {tokens} tokens ({source})"
    if decode is None:
        note = f"decode speed not measurable ({tokens} tokens, {source})"
    return SpeedFigures(
        time_to_first_token_ms=round(ttft_s * 1000, 1),
        decode_tokens_per_s=decode,
        prefill_tokens_per_s=prefill,
        prompt_tokens=prompt_tokens or None,
        speed_tokens=tokens,
        note=note,
        source=source,
    )


def median_figures(runs: Sequence[SpeedFigures]) -> SpeedFigures:
    """The median of each figure over the runs that gave it; the fewest tokens of any run."""

    def median(values: list[float | None]) -> float | None:
        given = [v for v in values if v is not None]
        return round(statistics.median(given), 2) if given else None

    decode = median([r.decode_tokens_per_s for r in runs])
    tokens = min(r.speed_tokens for r in runs)
    counted = ", ".join(sorted({r.source for r in runs if r.source})) or "no tokens"
    if decode is None:
        note = f"decode speed not measurable ({tokens} tokens, {counted})"
    else:
        note = f"decode speed over {tokens} tokens ({counted}), median of {len(runs)} runs"
    prompts = [r.prompt_tokens for r in runs if r.prompt_tokens]
    return SpeedFigures(
        time_to_first_token_ms=median([r.time_to_first_token_ms for r in runs]),
        decode_tokens_per_s=decode,
        prefill_tokens_per_s=median([r.prefill_tokens_per_s for r in runs]),
        prompt_tokens=prompts[0] if prompts else None,
        speed_tokens=tokens,
        note=note,
    )
