"""The deterministic checkers probes name, and the response they read.

A checker takes a `ProbeResponse` (the text plus any parsed tool calls) and the probe's
arguments, and returns a `Verdict`. Probes (selector/smoke/probes.py) refer to checkers by
their registered name, so a suite is data; an unknown name fails with a did-you-mean.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from selector.errors import InputError


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for, arguments already decoded from JSON."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeResponse:
    """What a backend got back for one probe: the text, and tool calls if the API parsed any."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str


Checker = Callable[[ProbeResponse, Mapping[str, Any]], Verdict]
CHECKERS: dict[str, Checker] = {}


class UnknownCheckerError(InputError):
    """A probe names a checker that is not registered."""


def checker(name: str) -> Callable[[Checker], Checker]:
    """Register a checker under `name`; probes refer to it by that name."""

    def register(fn: Checker) -> Checker:
        if name in CHECKERS:
            raise ValueError(f"checker {name!r} registered twice")
        CHECKERS[name] = fn
        return fn

    return register


def get_checker(name: str) -> Checker:
    try:
        return CHECKERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(CHECKERS), n=1, cutoff=0.5)
        hint = f" Did you mean: {close[0]}?" if close else ""
        available = ", ".join(sorted(CHECKERS))
        raise UnknownCheckerError(
            f"Unknown checker {name!r}.{hint} Available: {available}"
        ) from None


# ---------------------------------------------------------------- text helpers for checkers


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _norm(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().strip(".").casefold()


def _json_objects(text: str) -> list[Any]:
    """Every JSON object in `text`, outermost first; code fences and prose around them ignored."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        found.append(obj)
        i = text.find("{", end)
    return found


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(got, (str, int, float)) and _norm(got) == _norm(expected)
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return float(got) == float(expected)
        except (TypeError, ValueError):
            return False
    return bool(got == expected)


def _mismatches(expected: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    wrong = []
    for key, want in expected.items():
        if key not in got:
            wrong.append(f"{key} missing")
        elif not _same(want, got[key]):
            wrong.append(f"{key}={got[key]!r}, expected {want!r}")
    return wrong


_FUNC_CALL = re.compile(r"\b([A-Za-z_][\w.]*)\s*\(([^()]*)\)")
_KWARG = re.compile(r"(\w+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,\s)]+)")


def parse_tool_calls(text: str) -> tuple[ToolCall, ...]:
    """Tool calls written as text: `{"name": .., "arguments": {..}}` (bare, fenced or inside
    `<tool_call>` tags, as Hermes/Qwen templates do) or `name(key="value", ...)` (Gemma style).
    """
    calls: list[ToolCall] = []
    for obj in _json_objects(text):
        if not isinstance(obj, dict):
            continue
        function = obj.get("function")
        inner: dict[str, Any] = function if isinstance(function, dict) else obj
        name = inner.get("name")
        args = inner.get("arguments", inner.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                continue
        if isinstance(name, str) and isinstance(args, dict):
            calls.append(ToolCall(name=name, arguments=args))
    if calls:
        return tuple(calls)
    for match in _FUNC_CALL.finditer(text):
        kwargs = {k: v.strip("\"'") for k, v in _KWARG.findall(match.group(2))}
        if kwargs:
            calls.append(ToolCall(name=match.group(1), arguments=kwargs))
    return tuple(calls)


# ---------------------------------------------------------------------------- the checkers


@checker("regex_first_line")
def _regex_first_line(response: ProbeResponse, args: Mapping[str, Any]) -> Verdict:
    """The first non-empty line matches `pattern` as a whole (flags: `ignore_case`)."""
    line = _first_line(response.text)
    flags = re.IGNORECASE if args.get("ignore_case") else 0
    if re.fullmatch(args["pattern"], line, flags):
        return Verdict(True, "first line matches")
    want = args.get("expect", args["pattern"])
    return Verdict(False, f"first line {line[:80]!r} is not {want!r}")


@checker("json_fields")
def _json_fields(response: ProbeResponse, args: Mapping[str, Any]) -> Verdict:
    """The answer holds a JSON object whose `fields` have the expected values (case-folded)."""
    objects = [o for o in _json_objects(response.text) if isinstance(o, dict)]
    if not objects:
        return Verdict(False, "no JSON object in the answer")
    expected: Mapping[str, Any] = args["fields"]
    wrong = _mismatches(expected, objects[0])
    if wrong:
        return Verdict(False, "; ".join(wrong))
    extra = sorted(set(objects[0]) - set(expected))
    if args.get("exact_keys") and extra:
        return Verdict(False, f"unexpected keys: {', '.join(extra)}")
    return Verdict(True, "valid JSON with the expected fields")


@checker("tool_call")
def _tool_call(response: ProbeResponse, args: Mapping[str, Any]) -> Verdict:
    """The first tool call names `name` with `arguments` (parsed calls first, else the text)."""
    calls = response.tool_calls or parse_tool_calls(response.text)
    if not calls:
        return Verdict(False, "no tool call found")
    call = calls[0]
    if call.name != args["name"]:
        return Verdict(False, f"called {call.name!r}, expected {args['name']!r}")
    wrong = _mismatches(args.get("arguments", {}), call.arguments)
    if wrong:
        return Verdict(False, "; ".join(wrong))
    return Verdict(True, f"{call.name} called with the expected arguments")


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@checker("final_number")
def _final_number(response: ProbeResponse, args: Mapping[str, Any]) -> Verdict:
    """The number after `Answer:` (else the last number in the text) equals `expected`."""
    text = response.text
    marker = re.search(r"answer\s*[:=]?\s*\**\s*(-?\d[\d,]*(?:\.\d+)?)", text, re.IGNORECASE)
    numbers = [marker.group(1)] if marker else _NUMBER.findall(text)
    if not numbers:
        return Verdict(False, "no number in the answer")
    got = float(numbers[-1].replace(",", ""))
    if got == float(args["expected"]):
        return Verdict(True, f"answered {args['expected']}")
    return Verdict(False, f"answered {numbers[-1]}, expected {args['expected']}")


@checker("contains")
def _contains(response: ProbeResponse, args: Mapping[str, Any]) -> Verdict:
    """`needle` appears in the answer, and none of `forbidden` does."""
    text = response.text.casefold()
    if args["needle"].casefold() not in text:
        return Verdict(False, f"{args['needle']!r} not in the answer")
    bad = [f for f in args.get("forbidden", ()) if f.casefold() in text]
    if bad:
        return Verdict(False, f"answer also contains {', '.join(map(repr, bad))}")
    return Verdict(True, f"found {args['needle']!r}")


@checker("label")
def _label(response: ProbeResponse, args: Mapping[str, Any]) -> Verdict:
    """The first word of the answer is `expected`, one of `labels` (case and punctuation aside)."""
    words = re.findall(r"[A-Za-z]+", response.text)
    if not words:
        return Verdict(False, "no label in the answer")
    first = words[0].casefold()
    labels = [label.casefold() for label in args["labels"]]
    if first not in labels:
        return Verdict(False, f"{words[0]!r} is not one of {', '.join(args['labels'])}")
    if first != args["expected"].casefold():
        return Verdict(False, f"labelled {words[0]!r}, expected {args['expected']!r}")
    return Verdict(True, f"labelled {args['expected']!r}")
