"""The endpoint HTTP layer against a misbehaving local server: each fault ends in a clear error."""

from __future__ import annotations

import socket
import time

import pytest
from endpoint_fault_server import fault_server

from selector.smoke.openai_http import Deadline, EndpointError, HttpPolicy, OpenAIHttp
from selector.smoke.sse import StreamError, read_stream

FAST = HttpPolicy(timeout_s=1.0, connect_timeout_s=1.0, retries=3, backoff_s=0.01)
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def _client(base_url: str, policy: HttpPolicy = FAST, **kwargs) -> OpenAIHttp:
    return OpenAIHttp(
        base_url, api_key_env=kwargs.pop("api_key_env", None), policy=policy, **kwargs
    )


def _stream(base_url: str, body: dict | None = None, policy: HttpPolicy = FAST, **kwargs):
    with _client(base_url, policy, **kwargs) as http:
        return http.stream("/chat/completions", body or CHAT, chat=True, deadline=Deadline(30))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ok_stream_assembles_text_and_times_tokens() -> None:
    body = {**CHAT, "stream_options": {"include_usage": True}}
    with fault_server("ok", reply="one two three") as server:
        result = _stream(server.base_url, body)
    assert result.text == "one two three"
    assert result.finish_reason == "stop"
    assert result.saw_done
    assert result.completion_tokens == (4, "server usage")
    assert result.token_deltas == 3
    assert result.sent_at <= result.first_token_at <= result.last_token_at


def test_without_usage_tokens_are_counted_from_deltas() -> None:
    with fault_server("ok", reply="a b c d e", usage=False) as server:
        result = _stream(server.base_url)
    assert result.completion_tokens == (5, "counted deltas")


def test_500_is_retried_then_reported_with_attempt_count() -> None:
    with fault_server("500") as server:
        with pytest.raises(EndpointError) as info:
            _stream(server.base_url)
        assert len(server.posts) == 4
    assert info.value.message.startswith(f"HTTP 500 from POST {server.base_url}/chat/completions")
    assert "internal failure" in info.value.message
    assert info.value.message.endswith("after 4 attempts")


def test_429_honours_retry_after_then_succeeds() -> None:
    sleeps: list[float] = []
    with fault_server("429-then-ok", fail_times=2, reply="fine") as server:
        result = _stream(server.base_url, sleep=sleeps.append)
        assert len(server.posts) == 3
    assert result.text == "fine"
    assert sleeps == [0.0, 0.0]  # the server said Retry-After: 0


def test_503_backs_off_exponentially_with_jitter() -> None:
    sleeps: list[float] = []
    policy = HttpPolicy(timeout_s=1, connect_timeout_s=1, retries=3, backoff_s=0.5)
    with fault_server("503-then-ok", fail_times=3, reply="up") as server:
        result = _stream(server.base_url, policy=policy, sleep=sleeps.append, jitter=lambda: 0.5)
    assert result.text == "up"
    assert sleeps == [0.5, 1.0, 2.0]


def test_401_is_not_retried_and_names_the_variable() -> None:
    with fault_server("401") as server:
        with pytest.raises(EndpointError) as info:
            _stream(server.base_url)
        assert len(server.posts) == 1
    assert "HTTP 401" in info.value.message
    assert "api_key_env" in info.value.message


def test_404_hints_at_missing_v1() -> None:
    with fault_server("404") as server:
        root = server.base_url.removesuffix("/v1")
        with pytest.raises(EndpointError) as info:
            _stream(root)
    assert "HTTP 404" in info.value.message
    assert f"{root}/v1?" in info.value.message


def test_refused_connection_is_named() -> None:
    base = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(EndpointError) as info:
        _stream(base)
    assert info.value.message == f"connection refused to {base}"


def test_hang_before_headers_times_out() -> None:
    started = time.monotonic()
    with fault_server("hang-before-headers") as server, pytest.raises(EndpointError) as info:
        _stream(server.base_url)
    assert time.monotonic() - started < 5
    assert "no response for 1 s (server hung)" in info.value.message


def test_hang_mid_stream_times_out() -> None:
    with fault_server("hang-mid-stream") as server:
        with pytest.raises(EndpointError) as info:
            _stream(server.base_url)
        assert len(server.posts) == 1  # a hang is not retried
    assert "no data for 1 s (stream hung)" in info.value.message


@pytest.mark.parametrize("mode", ["close-mid-stream", "eof-mid-stream"])
def test_truncated_stream_is_reported(mode: str) -> None:
    with fault_server(mode) as server, pytest.raises(EndpointError) as info:
        _stream(server.base_url)
    assert info.value.message.startswith("stream ended before [DONE]")


def test_malformed_json_is_reported() -> None:
    with fault_server("malformed") as server, pytest.raises(EndpointError) as info:
        _stream(server.base_url)
    assert info.value.message.startswith('malformed JSON in stream: {"choices"')


def test_error_object_in_stream_is_reported() -> None:
    with fault_server("error-event") as server, pytest.raises(EndpointError) as info:
        _stream(server.base_url)
    assert "server error in stream: CUDA out of memory" in info.value.message


def test_whole_run_deadline_stops_retrying() -> None:
    policy = HttpPolicy(timeout_s=1, connect_timeout_s=1, retries=5, backoff_s=2.0)
    with (
        fault_server("500") as server,
        _client(server.base_url, policy) as http,
        pytest.raises(EndpointError) as info,
    ):
        http.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(1.0))
    assert "would pass the 1 s smoke timeout" in info.value.message


def test_api_key_is_sent_from_environment_and_never_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sentinel = "sk-SENTINEL-d41d8cd98f00b204"
    monkeypatch.setenv("SELECTOR_TEST_KEY", sentinel)
    with fault_server("ok", expected_key=sentinel, reply="authorised") as server:
        result = _stream(server.base_url, api_key_env="SELECTOR_TEST_KEY")
        assert server.auth_headers[-1] == f"Bearer {sentinel}"
    assert result.text == "authorised"

    monkeypatch.setenv("SELECTOR_TEST_KEY", sentinel + "-wrong")
    with fault_server("ok", expected_key=sentinel) as server:
        http = _client(server.base_url, api_key_env="SELECTOR_TEST_KEY")
        with pytest.raises(EndpointError) as info, http:
            http.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(30))
    # the server echoed the wrong key in its 401 body; the report must not carry it
    assert "HTTP 401" in info.value.message
    assert sentinel not in info.value.message
    assert "[redacted]" in info.value.message
    assert "$SELECTOR_TEST_KEY" in info.value.message
    assert sentinel not in repr(http) and sentinel not in repr(info.value)


def test_missing_key_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELECTOR_TEST_KEY", raising=False)
    with fault_server("ok") as server:
        with pytest.raises(EndpointError) as info:
            _stream(server.base_url, api_key_env="SELECTOR_TEST_KEY")
        assert server.posts == []
    assert info.value.message == "environment variable SELECTOR_TEST_KEY (API key) is not set"


def test_list_models() -> None:
    with fault_server("ok") as server, _client(server.base_url) as http:
        assert http.list_models(Deadline(10)) == ["fake-model"]


# -- the SSE reader on its own ---------------------------------------------------------------
def _lines(*events: str) -> list[str]:
    out: list[str] = []
    for event in events:
        out += [*event.split("\n"), ""]
    return out


def test_sse_skips_comments_and_assembles_tool_calls_and_reasoning() -> None:
    lines = [
        ": ping",
        "",
        *_lines(
            'data: {"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}',
            'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1",'
            '"function":{"name":"get_weather","arguments":"{\\"city\\": "}}]}}]}',
            'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
            '"function":{"arguments":"\\"Paris\\"}"}}]},"finish_reason":"tool_calls"}]}',
            "data: [DONE]",
        ),
    ]
    result = read_stream(lines, chat=True)
    assert result.reasoning == "think"
    assert [(c.name, c.parsed_arguments()) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert result.finish_reason == "tool_calls"
    assert result.token_deltas == 3


def test_sse_completion_stream_and_multiline_data() -> None:
    lines = _lines(
        'data: {"choices":[{"index":0,\ndata: "text":"4"}]}',
        'data: {"choices":[{"index":0,"text":"2","finish_reason":"length"}]}',
    )
    result = read_stream(lines, chat=False)  # no [DONE] but a finish reason: accepted
    assert result.text == "42"
    assert not result.saw_done


def test_sse_without_done_or_finish_is_truncated() -> None:
    with pytest.raises(StreamError, match=r"stream ended before \[DONE\] \(after 1 chunks\)"):
        read_stream(_lines('data: {"choices":[{"index":0,"delta":{"content":"x"}}]}'), chat=True)


def test_sse_counts_held_back_utf8_tokens_but_not_role_or_closing_chunks() -> None:
    lines = _lines(
        'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
        'data: {"choices":[{"index":0,"delta":{"content":""}}]}',
        'data: {"choices":[{"index":0,"delta":{"content":"\u00e9"}}]}',
        'data: {"choices":[{"index":0,"delta":{"content":"!"}}]}',
        'data: {"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}',
        "data: [DONE]",
    )
    result = read_stream(lines, chat=True)
    assert result.text == "\u00e9!"
    assert result.completion_tokens == (3, "counted deltas")


def test_hang_cut_by_the_run_deadline_says_both() -> None:
    policy = HttpPolicy(timeout_s=30, connect_timeout_s=1, retries=0, backoff_s=0.01)
    with (
        fault_server("hang-before-headers") as server,
        _client(server.base_url, policy) as http,
        pytest.raises(EndpointError) as info,
    ):
        http.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(1.0))
    assert info.value.message.startswith("no response for 1 s (server hung) from POST")
    assert info.value.message.endswith("at the smoke run's 1 s timeout")
