"""Probe suite v1: each probe is data naming a registered deterministic checker.

A probe carries two renderings of the same task: chat `messages` for instruct models (run
through the model's own chat template) and a few-shot `completion_prompt` for base models, so
a base model is judged on what it was trained to do. Checkers read a `ProbeResponse` (the text
plus any parsed tool calls), so a local llama.cpp backend and an OpenAI-compatible endpoint
run the very same probes. Changing a prompt, a checker or an argument changes what a pass
means: bump `SUITE_VERSION`, which is part of the cache key and of every report.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from selector.errors import InputError
from selector.smoke.checkers import ProbeResponse, get_checker
from selector.smoke.interface import ProbeOutcome
from selector.vocab import Tuning

SUITE_VERSION = "1"

# A model passes the suite when at least this share of its probes pass (and all of them ran).
PASS_THRESHOLD = 0.5

Message = Mapping[str, str]


@dataclass(frozen=True)
class Probe:
    """One task, declared as data: how to ask it and which checker judges the answer."""

    id: str
    kind: str
    purpose: str
    messages: tuple[Message, ...]
    completion_prompt: str
    checker: str
    args: Mapping[str, Any] = field(default_factory=dict)
    stop: tuple[str, ...] = ("\n",)
    tools: tuple[Mapping[str, Any], ...] = ()
    max_tokens: int | None = None

    def prompt_for(self, tuning: Tuning) -> tuple[Message, ...] | str:
        """Chat messages for instruct weights, the few-shot completion prompt for base weights."""
        return self.messages if tuning is Tuning.INSTRUCT else self.completion_prompt


def evaluate(probe: Probe, response: ProbeResponse) -> ProbeOutcome:
    """Judge one response; the outcome keeps the text so a reader can see why."""
    verdict = get_checker(probe.checker)(response, probe.args)
    output = response.text
    if response.tool_calls:
        calls = [{"name": c.name, "arguments": dict(c.arguments)} for c in response.tool_calls]
        output = (output + "\n" if output else "") + "tool_calls: " + json.dumps(calls)
    return ProbeOutcome(id=probe.id, passed=verdict.passed, output=output, detail=verdict.detail)


def suite_passed(outcomes: Sequence[ProbeOutcome], total: int) -> tuple[bool, str]:
    """The suite verdict: every probe ran and at least PASS_THRESHOLD of them passed."""
    passed = sum(o.passed for o in outcomes)
    failed = [o.id for o in outcomes if not o.passed]
    if len(outcomes) < total:
        return False, f"only {len(outcomes)} of {total} probes ran"
    if total and passed / total >= PASS_THRESHOLD:
        note = f"; failed: {', '.join(failed)}" if failed else ""
        return True, f"{passed}/{total} probes passed{note}"
    return (
        False,
        f"{passed}/{total} probes passed (need {PASS_THRESHOLD:.0%}); failed: " + ", ".join(failed),
    )


# --------------------------------------------------------------------------------- the suite

WEATHER_TOOLS: tuple[Mapping[str, Any], ...] = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current local time in an IANA time zone.",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string", "description": "e.g. Europe/Paris"}},
                "required": ["timezone"],
            },
        },
    },
)

_RECALL_CONTEXT = (
    "Facilities notes, building C. The east stairwell is closed for painting until Friday; use "
    "the west stairwell instead. Visitors sign in at the ground-floor desk and wear a badge at "
    "all times. The kitchen on the third floor has a new coffee machine; descale it every "
    "Monday. The access code for the storage room is 4817. Printers on the second floor are "
    "serviced by the vendor every other Tuesday, and paper is kept in the cabinet next to them. "
    "Parking spaces 12 to 20 are reserved for car sharing. The fire drill is planned for the "
    "first week of next month, and wardens will wear orange vests."
)


def _user(text: str) -> tuple[Message, ...]:
    # A single user turn: the one shape every chat template accepts (some reject `system`).
    return (MappingProxyType({"role": "user", "content": text}),)


PROBES: tuple[Probe, ...] = (
    Probe(
        id="instruction-format",
        kind="instruction-following",
        purpose="does exactly what a format instruction says, nothing more",
        messages=_user(
            "Write the word hello three times, in uppercase, separated by commas. "
            "Reply with that line only."
        ),
        completion_prompt=(
            "Instruction: Write the word cat two times, in uppercase, separated by commas.\n"
            "Output: CAT, CAT\n"
            "Instruction: Write the word sun four times, in uppercase, separated by commas.\n"
            "Output: SUN, SUN, SUN, SUN\n"
            "Instruction: Write the word hello three times, in uppercase, separated by commas.\n"
            "Output:"
        ),
        checker="regex_first_line",
        args=MappingProxyType(
            {"pattern": r"\W*HELLO\s*,\s*HELLO\s*,\s*HELLO\W*", "expect": "HELLO, HELLO, HELLO"}
        ),
    ),
    Probe(
        id="json-extraction",
        kind="structured-output",
        purpose="emits parseable JSON with the requested keys and the right values",
        messages=_user(
            "Extract the city and the country from this sentence as a JSON object with the "
            'keys "city" and "country". Reply with the JSON object only.\n'
            "Sentence: Lisbon is the capital of Portugal."
        ),
        completion_prompt=(
            "Sentence: Berlin is the capital of Germany.\n"
            'JSON: {"city": "Berlin", "country": "Germany"}\n'
            "Sentence: Madrid is the capital of Spain.\n"
            'JSON: {"city": "Madrid", "country": "Spain"}\n'
            "Sentence: Lisbon is the capital of Portugal.\n"
            "JSON:"
        ),
        checker="json_fields",
        args=MappingProxyType({"fields": {"city": "Lisbon", "country": "Portugal"}}),
    ),
    Probe(
        id="tool-call",
        kind="tool-calling",
        purpose="picks the right function among two and fills its arguments (agentic use)",
        messages=_user("What is the weather in Oslo right now, in celsius?"),
        completion_prompt=(
            "Tools: get_weather(city, unit: celsius|fahrenheit); get_time(timezone)\n"
            "Request: What time is it in Tokyo?\n"
            'Call: {"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}\n'
            "Request: How warm is it in Madrid, in fahrenheit?\n"
            'Call: {"name": "get_weather", "arguments": {"city": "Madrid", "unit": "fahrenheit"}}\n'
            "Request: What is the weather in Oslo right now, in celsius?\n"
            "Call:"
        ),
        checker="tool_call",
        args=MappingProxyType(
            {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}
        ),
        tools=WEATHER_TOOLS,
    ),
    Probe(
        id="arithmetic",
        kind="reasoning",
        purpose="carries a two-step calculation to the right number",
        messages=_user(
            "A box holds 12 pens. How many pens are in 7 boxes after 5 pens are taken out? "
            "Think briefly, then end with 'Answer: <number>'."
        ),
        completion_prompt=(
            "Q: A shelf holds 8 books. How many books are on 3 shelves after 2 more are added?\n"
            "A: 8 * 3 = 24, and 24 + 2 = 26. Answer: 26\n"
            "Q: A crate holds 6 apples. How many apples are in 5 crates after 4 are eaten?\n"
            "A: 6 * 5 = 30, and 30 - 4 = 26. Answer: 26\n"
            "Q: A box holds 12 pens. How many pens are in 7 boxes after 5 pens are taken out?\n"
            "A:"
        ),
        checker="final_number",
        args=MappingProxyType({"expected": 79}),
    ),
    Probe(
        id="context-recall",
        kind="recall",
        purpose="finds a fact planted in the context instead of inventing one",
        messages=_user(
            f"{_RECALL_CONTEXT}\n\nUsing only the notes above: what is the access code for "
            "the storage room? Reply with the code only."
        ),
        completion_prompt=(
            f"{_RECALL_CONTEXT}\n\n"
            "Q: Which stairwell should be used until Friday?\nA: the west stairwell\n"
            "Q: Which parking spaces are reserved for car sharing?\nA: spaces 12 to 20\n"
            "Q: What is the access code for the storage room?\nA:"
        ),
        checker="contains",
        args=MappingProxyType({"needle": "4817"}),
    ),
    Probe(
        id="sentiment-label",
        kind="classification",
        purpose="answers with one label from a closed set, as a ticket router needs",
        messages=_user(
            "Classify the sentiment of this review as positive or negative. Reply with one "
            "word.\nReview: The battery died after two days and support never answered."
        ),
        completion_prompt=(
            "Review: Fast delivery and the fit is perfect.\nSentiment: positive\n"
            "Review: Broke on the first use, a waste of money.\nSentiment: negative\n"
            "Review: The battery died after two days and support never answered.\n"
            "Sentiment:"
        ),
        checker="label",
        args=MappingProxyType({"expected": "negative", "labels": ["positive", "negative"]}),
    ),
)


def tool_prompt_messages(probe: Probe) -> tuple[Message, ...]:
    """The probe's chat messages with its tools described in the prompt, for backends that
    cannot pass an OpenAI `tools` list (or whose server ignores it)."""
    if not probe.tools:
        return probe.messages
    lines = []
    for tool in probe.tools:
        fn = tool["function"]
        params = json.dumps(fn.get("parameters", {}), separators=(",", ":"))
        lines.append(
            f"- {fn['name']}: {fn.get('description', '')} Parameters (JSON Schema): {params}"
        )
    preamble = (
        "You can call these functions:\n"
        + "\n".join(lines)
        + '\nTo call one, reply with only a JSON object: {"name": "<function>", "arguments": '
        "{...}}.\n\n"
    )
    first, *rest = probe.messages
    merged = MappingProxyType({"role": first["role"], "content": preamble + first["content"]})
    return (merged, *rest)


def probe_by_id(probe_id: str) -> Probe:
    for probe in PROBES:
        if probe.id == probe_id:
            return probe
    close = difflib.get_close_matches(probe_id, [p.id for p in PROBES], n=1)
    hint = f" Did you mean: {close[0]}?" if close else ""
    raise InputError(
        f"Unknown probe {probe_id!r}.{hint} Available: {', '.join(p.id for p in PROBES)}"
    )


def _check_suite() -> None:
    ids = [p.id for p in PROBES]
    if len(set(ids)) != len(ids):
        raise ValueError("probe ids are not unique")
    for probe in PROBES:
        get_checker(probe.checker)


_check_suite()
