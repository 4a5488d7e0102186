"""What a checker reads: an answer's text and tool calls, and the parsing that finds calls,
JSON values and loosely equal values in text a model wrote."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for, arguments already decoded from JSON."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeResponse:
    """The answer a checker judges: text with reasoning removed, and tool calls if any."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def norm(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().strip(".").casefold()


TRIM = " \t\r\n\"'`.*"


def json_values(text: str) -> list[Any]:
    """Every JSON object or array in `text`, in order; fences and prose around them ignored."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    i = _next_open(text, 0)
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = _next_open(text, i + 1)
            continue
        found.append(obj)
        i = _next_open(text, end)
    return found


def _next_open(text: str, start: int) -> int:
    hits = [p for p in (text.find("{", start), text.find("[", start)) if p != -1]
    return min(hits) if hits else -1


def same(expected: Any, got: Any) -> bool:
    """Loose equality for values a model writes: case and surrounding space aside, 7 == 7.0."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got or (isinstance(got, str) and norm(got) == str(expected).lower())
    if isinstance(expected, str):
        return isinstance(got, (str, int, float)) and norm(got) == norm(expected)
    if isinstance(expected, (int, float)):
        try:
            return math.isclose(float(got), float(expected), rel_tol=1e-9, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        return not mismatches(expected, got)
    if isinstance(expected, Sequence) and isinstance(got, Sequence):
        return len(expected) == len(got) and all(map(same, expected, got))
    return bool(got == expected)


def mismatches(expected: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    wrong = []
    for key, want in expected.items():
        if key not in got:
            wrong.append(f"{key} missing")
        elif not same(want, got[key]):
            wrong.append(f"{key}={got[key]!r}, expected {want!r}")
    return wrong


_FUNC_CALL = re.compile(r"\b([A-Za-z_][\w.]*)\s*\(([^()]*)\)")
_KWARG = re.compile(r"(\w+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,\s)]+)")


def parse_tool_calls(text: str) -> tuple[ToolCall, ...]:
    """Tool calls written as text: `{"name": .., "arguments": {..}}` (bare, fenced or inside
    `<tool_call>` tags, as Hermes/Qwen templates do) or `name(key="value", ...)` (Gemma style).
    """
    calls: list[ToolCall] = []
    for obj in json_values(text):
        for item in obj if isinstance(obj, list) else [obj]:
            call = _tool_call_from(item)
            if call is not None:
                calls.append(call)
    if calls:
        return tuple(calls)
    for match in _FUNC_CALL.finditer(text):
        kwargs = {k: v.strip("\"'") for k, v in _KWARG.findall(match.group(2))}
        if kwargs:
            calls.append(ToolCall(name=match.group(1), arguments=kwargs))
    return tuple(calls)


def _tool_call_from(obj: Any) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    function = obj.get("function")
    inner: dict[str, Any] = function if isinstance(function, dict) else obj
    name = inner.get("name")
    args = inner.get("arguments", inner.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if isinstance(name, str) and isinstance(args, dict):
        return ToolCall(name=name, arguments=args)
    return None


def tool_calls_of(response: ProbeResponse) -> tuple[ToolCall, ...]:
    """Calls the API parsed, else calls written in the text."""
    return response.tool_calls or parse_tool_calls(response.text)
