"""Probe checkers judge hand-written answers: the right ones pass, the near misses fail."""

from __future__ import annotations

import pytest

from selector.smoke.checkers import (
    CHECKERS,
    ProbeResponse,
    ToolCall,
    UnknownCheckerError,
    get_checker,
    parse_tool_calls,
)
from selector.smoke.interface import ProbeOutcome
from selector.smoke.probes import (
    PASS_THRESHOLD,
    PROBES,
    SUITE_VERSION,
    evaluate,
    probe_by_id,
    suite_passed,
    tool_prompt_messages,
)
from selector.vocab import Tuning

# (probe id, answer that must pass, answer that must fail)
CASES = [
    ("instruction-format", "HELLO, HELLO, HELLO", "hello, hello, hello"),
    ("instruction-format", " HELLO,HELLO, HELLO.\nextra", "HELLO, HELLO, HELLO, HELLO"),
    ("json-extraction", '{"city": "Lisbon", "country": "Portugal"}', '{"city": "Porto"}'),
    (
        "json-extraction",
        '```json\n{"country": "portugal", "city": "Lisbon"}\n```',
        "city: Lisbon, country: Portugal",
    ),
    (
        "tool-call",
        '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}',
        '{"name": "get_time", "arguments": {"timezone": "Europe/Oslo"}}',
    ),
    (
        "tool-call",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "oslo", "unit": "Celsius"}}'
        "\n</tool_call>",
        '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "fahrenheit"}}',
    ),
    (
        "tool-call",
        '[get_weather(city="Oslo", unit="celsius")]',
        "The weather in Oslo is 4 degrees celsius.",
    ),
    ("arithmetic", "12 * 7 = 84, 84 - 5 = 79. Answer: 79", "12 * 7 = 84. Answer: 84"),
    ("arithmetic", "There are **79** pens.", "79 - 5 = 74. Answer: 74"),
    ("context-recall", "4817", "The code is 4871."),
    ("sentiment-label", "Negative.", "positive"),
    ("sentiment-label", "negative", "The review is negative."),
]


@pytest.mark.parametrize(("probe_id", "good", "bad"), CASES)
def test_checker_passes_right_answer_and_fails_near_miss(
    probe_id: str, good: str, bad: str
) -> None:
    probe = probe_by_id(probe_id)
    passed = evaluate(probe, ProbeResponse(text=good))
    failed = evaluate(probe, ProbeResponse(text=bad))
    assert passed.passed, passed.detail
    assert not failed.passed, failed.detail
    assert failed.output == bad
    assert failed.detail


def test_tool_call_checker_prefers_parsed_calls_from_the_api() -> None:
    probe = probe_by_id("tool-call")
    native = ProbeResponse(
        text="", tool_calls=(ToolCall("get_weather", {"city": "Oslo", "unit": "celsius"}),)
    )
    outcome = evaluate(probe, native)
    assert outcome.passed, outcome.detail
    assert "get_weather" in outcome.output
    wrong_args = ProbeResponse(text="", tool_calls=(ToolCall("get_weather", {"city": "Bergen"}),))
    verdict = evaluate(probe, wrong_args)
    assert not verdict.passed
    assert "city" in verdict.detail and "unit missing" in verdict.detail


def test_parse_tool_calls_reads_openai_function_shape_with_string_arguments() -> None:
    text = '{"type": "function", "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}'
    assert parse_tool_calls(text) == (ToolCall("f", {"x": 1}),)
    assert parse_tool_calls("no call here") == ()


def test_unknown_checker_names_close_match_and_available() -> None:
    with pytest.raises(UnknownCheckerError) as err:
        get_checker("tool_calls")
    message = str(err.value)
    assert message.startswith("Unknown checker 'tool_calls'.")
    assert "Did you mean: tool_call?" in message
    assert "Available: " in message and "json_fields" in message


def test_suite_is_complete_and_declared_as_data() -> None:
    kinds = {p.kind for p in PROBES}
    assert {
        "instruction-following",
        "structured-output",
        "tool-calling",
        "reasoning",
        "recall",
    } <= kinds
    assert len(PROBES) >= 6
    assert SUITE_VERSION
    for probe in PROBES:
        assert probe.checker in CHECKERS
        assert probe.messages and probe.messages[0]["role"] == "user"
        assert probe.completion_prompt.rstrip().endswith(":"), "few-shot prompts end in a cue"
        assert isinstance(probe.prompt_for(Tuning.BASE), str)
        assert probe.prompt_for(Tuning.INSTRUCT) == probe.messages


def test_tool_probe_has_openai_schema_and_a_prompt_fallback() -> None:
    probe = probe_by_id("tool-call")
    names = [t["function"]["name"] for t in probe.tools]
    assert names == ["get_weather", "get_time"]
    fallback = tool_prompt_messages(probe)
    assert len(fallback) == 1
    content = fallback[0]["content"]
    assert "get_weather" in content and content.endswith(probe.messages[0]["content"])
    plain = probe_by_id("arithmetic")
    assert tool_prompt_messages(plain) == plain.messages


def test_suite_verdict_threshold_and_missing_probes() -> None:
    def outcomes(n_pass: int, n_fail: int) -> list[ProbeOutcome]:
        return [ProbeOutcome(id=f"p{i}", passed=i < n_pass) for i in range(n_pass + n_fail)]

    need = int(PASS_THRESHOLD * 6 + 0.999)
    ok, why = suite_passed(outcomes(need, 6 - need), 6)
    assert ok, why
    ok, why = suite_passed(outcomes(need - 1, 7 - need), 6)
    assert not ok and "failed: " in why
    ok, why = suite_passed(outcomes(5, 0), 6)
    assert not ok and "only 5 of 6 probes ran" in why
