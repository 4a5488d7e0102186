"""Every checker: a right answer passes, a near miss fails, and bad arguments are refused with
the field named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from selector.smoke.checkers import (
    CHECKERS,
    ProbeResponse,
    ToolCall,
    UnknownCheckerError,
    get_checker,
    parse_tool_calls,
    run_checker,
    validate_args,
)

# (checker, args, answer that must pass, answer that must fail)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("exact", {"value": "PARIS"}, "PARIS.", "Paris"),
    ("exact", {"value": "PARIS", "ignore_case": True}, "`paris`", "PARIS, France"),
    ("exact", {"value": "42", "trim": False}, " 42\n", '"42"'),
    ("contains", {"value": "4817"}, "The code is 4817.", "The code is 4871."),
    ("contains", {"values": ["Okafor", "Marisol"]}, "marisol OKAFOR", "Marisol Smith"),
    ("contains", {"value": "ABC", "ignore_case": False}, "xABCx", "xabcx"),
    ("not_contains", {"value": "apple"}, "pear, plum, fig", "pear, Apple, fig"),
    ("not_contains", {"values": ["a", "b"]}, "xyz", ""),
    ("regex", {"pattern": r"\bsete\b"}, "É sete.", "setenta"),
    (
        "regex",
        {"pattern": r"\W*HELLO(, HELLO){2}\W*", "mode": "first_line"},
        "HELLO, HELLO, HELLO\nok",
        "ok\nHELLO, HELLO, HELLO",
    ),
    (
        "regex",
        {"pattern": r"(- .+\n){2}- .+", "mode": "fullmatch"},
        "- a\n- b\n- c",
        "Sure:\n- a\n- b\n- c",
    ),
    (
        "regex",
        {"pattern": "select.*group by", "ignore_case": True, "dotall": True},
        "SELECT a\nFROM t GROUP BY a",
        "SELECT a FROM t",
    ),
    ("number", {"expected": 79}, "12*7 = 84, 84-5 = 79. Answer: 79", "12*7 = 84. Answer: 84"),
    ("number", {"expected": 79}, "so there are \\(\\boxed{79}\\) pens", "79 - 5 = 74"),
    ("number", {"expected": 1250.5}, "Answer: 1,250.50", "Answer: 1,205.50"),
    ("number", {"expected": 3.14, "tolerance": 0.01}, "about 3.141", "about 3.2"),
    ("number", {"expected": 30, "marker": ""}, "30", "it prints 3"),
    (
        "one_of",
        {"choices": ["positive", "negative"], "expected": "negative", "strict": True},
        "Negative.",
        "The review is negative.",
    ),
    (
        "one_of",
        {"choices": ["Polish", "Czech"], "expected": "Polish"},
        "It is Polish.",
        "Czech, not Polish",
    ),
    (
        "one_of",
        {"choices": ["Anna", "Carl"], "expected": "Carl", "after": "answer"},
        "Anna > Carl. Answer: Carl",
        "Carl < Anna. Answer: Anna",
    ),
    (
        "one_of",
        {"choices": ["Anna", "Carl"], "expected": "Carl", "pick": "last"},
        "Anna is taller, so Carl",
        "Carl is shorter than Anna",
    ),
    ("one_of", {"choices": ["yes", "no"]}, "yes", "maybe"),
    (
        "json_schema",
        {
            "schema": {
                "type": "object",
                "required": ["n"],
                "properties": {"n": {"type": "integer"}},
            },
            "fields": {"n": 3},
        },
        '```json\n{"n": 3}\n```',
        '{"n": "3"}',
    ),
    (
        "json_schema",
        {
            "schema": {
                "type": "array",
                "prefixItems": [{"const": "a"}, {"const": "b"}],
                "items": False,
            }
        },
        'Here: ["a", "b"]',
        '["a", "b", "c"]',
    ),
    (
        "json_schema",
        {"schema": {"type": "object"}, "fields": {"city": "Lisbon"}},
        '{"city": "lisbon"}',
        "city: Lisbon",
    ),
    (
        "tool_call",
        {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}},
        '<tool_call>\n{"name": "get_weather", "arguments": '
        '{"city": "oslo", "unit": "Celsius"}}\n</tool_call>',
        '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "fahrenheit"}}',
    ),
    (
        "tool_call",
        {"name": "convert", "arguments": {"amount": 250}},
        '{"name": "convert", "arguments": {"amount": "250.0"}}',
        '{"name": "convert", "arguments": {"amount": 25}}',
    ),
    (
        "tool_call",
        {"name": "f", "arguments": {"x": 1}, "exact_arguments": True},
        '{"name": "f", "arguments": {"x": 1}}',
        '{"name": "f", "arguments": {"x": 1, "y": 2}}',
    ),
    (
        "tool_call",
        {"name": "get_time"},
        '[get_time(timezone="Asia/Tokyo")]',
        "It is noon in Tokyo.",
    ),
    (
        "no_tool_call",
        {},
        "Welcome aboard, Sam!",
        '{"name": "get_time", "arguments": {"timezone": "UTC"}}',
    ),
    (
        "python_function",
        {"name": "is_palindrome", "arity": 1},
        "```python\ndef is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]\n```",
        "```python\ndef is_palindrome(s):\n    return s == s[::-1\n```",
    ),
    (
        "python_function",
        {"name": "f", "arity": 2},
        "def f(a, b):\n    return a",
        "def f(a):\n    return a",
    ),
    (
        "all",
        {
            "checks": [
                {"checker": "regex", "args": {"pattern": "^[a-z, ]+$", "mode": "first_line"}},
                {"checker": "not_contains", "args": {"value": "apple"}},
            ]
        },
        "pear, plum, fig",
        "pear, apple, fig",
    ),
]


@pytest.mark.parametrize(("name", "args", "good", "bad"), CASES)
def test_checker_passes_the_right_answer_and_fails_the_near_miss(
    name: str, args: dict[str, Any], good: str, bad: str
) -> None:
    passed = run_checker(name, args, ProbeResponse(text=good))
    failed = run_checker(name, args, ProbeResponse(text=bad))
    assert passed.passed, passed.detail
    assert not failed.passed, failed.detail
    assert failed.detail and passed.detail


def test_every_registered_checker_is_exercised() -> None:
    assert set(CHECKERS) == {name for name, *_ in CASES}


def test_tool_call_checker_prefers_calls_the_api_parsed() -> None:
    native = ProbeResponse(text="", tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),))
    assert run_checker(
        "tool_call", {"name": "get_weather", "arguments": {"city": "Oslo"}}, native
    ).passed
    wrong = run_checker(
        "tool_call", {"name": "get_weather", "arguments": {"unit": "celsius"}}, native
    )
    assert not wrong.passed and "unit missing" in wrong.detail


def test_parse_tool_calls_reads_openai_shapes_and_lists() -> None:
    text = '{"type": "function", "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}'
    assert parse_tool_calls(text) == (ToolCall("f", {"x": 1}),)
    two = '[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"k": 2}}]'
    assert [c.name for c in parse_tool_calls(two)] == ["a", "b"]
    assert parse_tool_calls("no call here") == ()


def test_json_schema_failure_names_the_path() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    verdict = run_checker("json_schema", {"schema": schema}, ProbeResponse('{"age": "34"}'))
    assert not verdict.passed
    assert "at age" in verdict.detail and "integer" in verdict.detail


@pytest.mark.parametrize(
    ("name", "args", "field"),
    [
        ("regex", {"pattern": "(unclosed"}, "pattern"),
        ("regex", {"pattern": "x", "mode": "anywhere"}, "mode"),
        ("regex", {"patern": "x"}, "pattern"),
        ("number", {"expected": "seventy"}, "expected"),
        ("number", {"expected": 1, "tolerance": -1}, "tolerance"),
        ("one_of", {"choices": ["a", "b"], "expected": "c"}, ""),
        ("one_of", {"choices": ["a"]}, "choices"),
        ("json_schema", {"schema": {"type": "strnig"}}, "schema"),
        ("contains", {}, ""),
        ("tool_call", {"arguments": {}}, "name"),
        ("all", {"checks": [{"checker": "regx", "args": {}}]}, "checks.0"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(
    name: str, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        validate_args(name, args)
    loc = ".".join(str(p) for p in err.value.errors()[0]["loc"])
    assert loc.startswith(field), loc


def test_unknown_checker_names_close_match_and_available() -> None:
    with pytest.raises(UnknownCheckerError) as err:
        get_checker("tool_calls")
    message = str(err.value)
    assert message.startswith("Unknown checker 'tool_calls'.")
    assert "Did you mean: tool_call?" in message
    assert "Available: " in message and "json_schema" in message
