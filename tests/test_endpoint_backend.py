"""EndpointBackend end to end against the local fault server: verdicts, fallbacks, errors, keys."""

from __future__ import annotations

import contextlib
import logging
import re
import socket

import pytest
from endpoint_fault_server import InFlightGauge, fault_server
from support.scripted import RIGHT

from selector.errors import InputError
from selector.smoke.endpoint import EndpointBackend
from selector.smoke.interface import SmokeResult, SmokeSettings, SmokeStatus
from selector.smoke.probes import SUITE_VERSION, SuitePlan, builtin_probes
from selector.smoke.runner import SmokeJob, run_many
from selector.vocab import Tuning

WEATHER = next(p for p in builtin_probes() if p.id == "tool-weather")
# the always-on probes plus the one tool probe the fake server's structured call answers
PLAN = SuitePlan(capabilities=("instruction-following", "structured-output"), extra=(WEATHER,))
N_PROBES = len(PLAN.probes())
SETTINGS = SmokeSettings(max_tokens=32, speed_tokens=16, timeout_s=20, suite=PLAN)
FAST = {"timeout_s": 1.0, "connect_timeout_s": 1.0, "retries": 2, "backoff_s": 0.01}

# What a model that gets everything right would say, keyed by a phrase of each probe's prompt.
RIGHT_ANSWERS = RIGHT
OSLO_CALL = {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}


def _backend(base_url: str, **kwargs) -> EndpointBackend:
    return EndpointBackend(base_url, "fake-model", **{**FAST, **kwargs})


def _outcome(result: SmokeResult, probe_id: str):
    return next(o for o in result.probes if o.id == probe_id)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_right_answers_pass_with_structured_tool_call_and_server_usage() -> None:
    with fault_server("ok", answers=RIGHT_ANSWERS, tool_call=OSLO_CALL) as server:
        result = _backend(server.base_url).run(SETTINGS)
        tool_posts = [p for p in server.posts if p.get("tools")]
    assert result.status is SmokeStatus.PASSED, result.reason
    assert (result.probes_passed, result.probes_total) == (N_PROBES, N_PROBES)
    assert result.suite_version == SUITE_VERSION
    assert result.suite_digest == PLAN.digest()
    assert set(result.capabilities) == {
        "instruction-following",
        "structured-output",
        "tool-calling",
    }
    assert result.backend.startswith(f"endpoint {server.base_url}")
    assert "decode speed over 41 tokens (server usage)" in result.reason
    assert (result.prompt_tokens, result.speed_tokens) == (11, 41)  # the fake server's usage
    assert result.time_to_first_token_ms > 0
    assert result.decode_tokens_per_s > 0
    tool = _outcome(result, "tool-weather")
    assert tool.passed
    assert tool.detail.startswith("structured tool call via `tools`")
    assert len(tool_posts) == 1 and tool_posts[0]["tool_choice"] == "auto"
    assert all(p["temperature"] == 0 and p["stream"] is True for p in server.posts)


def test_wrong_answers_fail_the_suite_but_not_the_run() -> None:
    with fault_server("ok", reply="I do not know") as server:
        result = _backend(server.base_url).run(SETTINGS)
    assert result.status is SmokeStatus.FAILED
    assert result.probes_passed == 0 and result.probes_total == N_PROBES
    assert result.reason.startswith(
        "failed instruction-following 0/6, structured-output 0/5, tool-calling 0/1"
    )


def test_rejected_tools_fall_back_to_prompt_and_say_so() -> None:
    with fault_server("reject-tools", answers=RIGHT_ANSWERS) as server:
        result = _backend(server.base_url).run(SETTINGS)
        fallback = [p for p in server.posts if "weather in Oslo" in p["messages"][-1]["content"]]
    tool = _outcome(result, "tool-weather")
    assert tool.passed
    assert "server rejected `tools` (HTTP 400: tools are not supported)" in tool.detail
    assert "prompt-based fallback used" in tool.detail
    assert "tools" in fallback[0] and "tools" not in fallback[1]
    assert "You can call these functions" in fallback[1]["messages"][0]["content"]


def test_a_call_written_as_text_is_judged_without_a_fallback() -> None:
    with fault_server("ok", answers=RIGHT_ANSWERS, tool_call=None) as server:
        result = _backend(server.base_url).run(SETTINGS)
        asked = [p for p in server.posts if "weather in Oslo" in str(p.get("messages"))]
    tool = _outcome(result, "tool-weather")
    assert tool.passed and tool.detail.startswith("chat with `tools`: get_weather called")
    assert len(asked) == 1


def test_no_call_at_all_falls_back_to_tools_in_the_prompt() -> None:
    answers = {**RIGHT_ANSWERS, "weather in Oslo": "Let me check."}
    answers = {"You can call these": RIGHT_ANSWERS["weather in Oslo"], **answers}
    with fault_server("ok", answers=answers, tool_call=None) as server:
        result = _backend(server.base_url).run(SETTINGS)
    tool = _outcome(result, "tool-weather")
    assert tool.passed
    assert tool.detail.startswith("no tool call came back through `tools`; prompt-based fallback")


def test_server_refusing_stream_options_is_measured_from_counted_deltas() -> None:
    with fault_server("reject-stream-options", answers=RIGHT_ANSWERS, tool_call=OSLO_CALL) as s:
        result = _backend(s.base_url).run(SETTINGS)
        sent_options = ["stream_options" in p for p in s.posts]
    assert result.status is SmokeStatus.PASSED, result.reason
    assert "counted deltas" in result.reason
    # refused once, retried without, and never sent again
    assert sent_options[:2] == [True, False] and not any(sent_options[2:])


def test_base_tuning_uses_completions_with_few_shot_prompt() -> None:
    with fault_server("ok", answers={"Call:": RIGHT_ANSWERS["weather in Oslo"]}) as server:
        result = _backend(server.base_url, tuning=Tuning.BASE).run(SETTINGS)
        paths = {p.rsplit("/v1", 1)[1] for p in server.paths}
        tool_body = next(p for p in server.posts if "Call:" in p.get("prompt", ""))
    assert paths == {"/completions"}
    assert tool_body["stop"] == ["\n"] and "tools" not in tool_body
    assert _outcome(result, "tool-weather").passed


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("500", "HTTP 500 from POST {base}/chat/completions: internal failure after 3 attempts"),
        ("401", "HTTP 401 from GET {base}/models"),
        ("hang-before-headers", "no response for 1 s (server hung) from POST {base}"),
        ("hang-mid-stream", "no data for 1 s (stream hung) from POST {base}"),
        ("close-mid-stream", "stream ended before [DONE]"),
        ("eof-mid-stream", "stream ended before [DONE]"),
        ("malformed", "malformed JSON in stream"),
        ("error-event", "server error in stream: CUDA out of memory"),
    ],
)
def test_each_fault_ends_in_a_clear_error(mode: str, expected: str) -> None:
    with fault_server(mode) as server:
        result = _backend(server.base_url).run(SETTINGS)
    assert result.status is SmokeStatus.ERROR
    assert expected.format(base=server.base_url) in result.reason
    assert result.probes_total == N_PROBES
    assert result.wall_time_s < 10


def test_refused_connection_is_an_error_result() -> None:
    base = f"http://127.0.0.1:{_free_port()}/v1"
    result = _backend(base).run(SETTINGS)
    assert result.status is SmokeStatus.ERROR
    assert result.reason == f"connection refused to {base}"


def test_several_endpoints_concurrently_one_bad_one_good() -> None:
    with (
        fault_server("ok", answers=RIGHT_ANSWERS, tool_call=OSLO_CALL) as good,
        fault_server("500") as broken,
        fault_server("hang-mid-stream") as hung,
        fault_server("malformed") as garbled,
    ):
        jobs = [
            SmokeJob(name, _backend(s.base_url))
            for name, s in (("good", good), ("broken", broken), ("hung", hung), ("bad", garbled))
        ]
        assert all(j.backend.parallel_safe and j.backend.cache_key() is None for j in jobs)
        results = run_many(jobs, SETTINGS, use_cache=False, concurrency=4)
    assert [r.status for r in results.values()] == [
        SmokeStatus.PASSED,
        SmokeStatus.ERROR,
        SmokeStatus.ERROR,
        SmokeStatus.ERROR,
    ]
    assert "HTTP 500" in results["broken"].reason
    assert "stream hung" in results["hung"].reason
    assert "malformed JSON" in results["bad"].reason


class _GaugedBackend(EndpointBackend):
    """Counts the runs in flight on the client side, where run_many's bound applies.

    A server-side count can briefly exceed the bound: a handler may still be closing its
    connection while the client, done with the stream, has started its next run.
    """

    gauge = InFlightGauge()

    def run(self, settings: SmokeSettings) -> SmokeResult:
        with self.gauge:
            return super().run(settings)


def test_concurrency_bound_is_respected() -> None:
    gauge = _GaugedBackend.gauge = InFlightGauge()
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(fault_server("ok", answers=RIGHT_ANSWERS, delay_s=0.005))
            for _ in range(4)
        ]
        jobs = [
            SmokeJob(f"m{i}", _GaugedBackend(s.base_url, "fake-model", **FAST))
            for i, s in enumerate(servers)
        ]
        results = run_many(jobs, SETTINGS, use_cache=False, concurrency=2)
    assert all(r.status is not SmokeStatus.ERROR for r in results.values())
    assert gauge.peak == 2  # two endpoints at once: concurrent, and never more than the bound


def test_sentinel_key_never_reaches_result_repr_or_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sentinel = "sk-SENTINEL-0123456789abcdef"
    monkeypatch.setenv("SELECTOR_SENTINEL_KEY", sentinel)
    caplog.set_level(logging.DEBUG)
    with fault_server("ok", answers=RIGHT_ANSWERS, expected_key=sentinel) as server:
        backend = _backend(server.base_url, api_key_env="SELECTOR_SENTINEL_KEY")
        good = backend.run(SETTINGS)
        assert set(server.auth_headers) == {f"Bearer {sentinel}"}
    with fault_server("ok", expected_key="something-else") as server:
        refused = _backend(server.base_url, api_key_env="SELECTOR_SENTINEL_KEY").run(SETTINGS)
    assert good.status is SmokeStatus.PASSED
    assert refused.status is SmokeStatus.ERROR and "HTTP 401" in refused.reason
    assert "[redacted]" in refused.reason  # the server echoed the key; the report does not
    for text in (good.model_dump_json(), refused.model_dump_json(), repr(backend), caplog.text):
        assert sentinel not in text


def test_unset_key_variable_is_a_per_candidate_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELECTOR_UNSET_KEY", raising=False)
    result = _backend("http://127.0.0.1:9/v1", api_key_env="SELECTOR_UNSET_KEY").run(SETTINGS)
    assert result.status is SmokeStatus.ERROR
    assert result.reason == "environment variable SELECTOR_UNSET_KEY (API key) is not set"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "gpu-box:8000/v1"}, "is not an http(s) URL"),
        ({"base_url": "http://user:pw@gpu-box/v1"}, "must not carry credentials"),
        ({"base_url": "http://gpu-box/v1?key=abc"}, "must not carry a query string"),
        ({"base_url": "http://["}, "is not a valid URL"),
        ({"api_key_env": "sk-live-123"}, "NAME of an environment variable"),
        ({"api_key_env": "sk1234567890abcdefABCDEF"}, "looks like an API key"),
        ({"model": " "}, "model name is empty"),
    ],
)
def test_bad_configuration_is_input_error(kwargs: dict, message: str) -> None:
    args = {"base_url": "http://127.0.0.1:8000/v1", "model": "m", **kwargs}
    with pytest.raises(InputError, match=re.escape(message)) as info:
        EndpointBackend(args.pop("base_url"), args.pop("model"), **args)
    assert "sk-live-123" not in str(info.value)
    assert "sk1234567890" not in str(info.value)
    assert "pw@" not in str(info.value)


def test_a_probe_refused_for_its_prompt_errors_alone() -> None:
    needle = "Lisbon is the capital"
    with fault_server("ok", answers=RIGHT_ANSWERS, tool_call=OSLO_CALL, reject_needle=needle) as s:
        result = _backend(s.base_url).run(SETTINGS)
    assert result.status is SmokeStatus.PASSED, result.reason
    assert "1 errored (json-extraction): HTTP 400" in result.reason
    refused = _outcome(result, "json-extraction")
    assert refused.status == "error" and "HTTP 400" in refused.error
    assert refused.capability == "structured-output"
    assert result.capabilities["structured-output"].total == 4
    assert result.probes_passed == N_PROBES - 1


def test_a_refused_speed_run_is_the_run_s_error() -> None:
    needle = "Facilities notes"  # only the speed run carries it
    with fault_server("ok", answers=RIGHT_ANSWERS, tool_call=OSLO_CALL, reject_needle=needle) as s:
        result = _backend(s.base_url).run(SETTINGS)
    assert result.status is SmokeStatus.ERROR  # no speed, no verdict
    assert "prompt exceeds the context size" in result.reason
    assert result.probes_passed == N_PROBES  # the probes it ran are kept


def test_unknown_model_is_refused_naming_what_the_server_serves() -> None:
    with fault_server("404") as server:
        result = EndpointBackend(server.base_url, "Qwen/Qwen3-30B-A3B", **FAST).run(SETTINGS)
    assert result.status is SmokeStatus.ERROR and result.setup_error
    assert server.posts == []  # refused from GET /models, before any probe
    assert result.reason.startswith(f"{server.base_url} serves 'fake-model', not 'Qwen/Qwen3")
