"""The probe-suite driver, the same code for every backend: which prompt each probe sends,
budgets and thinking, tool fallbacks and agent turns, errored and truncated probes.

A backend hands the driver a `ProbeSession` (selector/smoke/session.py) and gets back
`ProbeOutcome`s; `summarize` (selector/smoke/verdict.py) turns them into the verdict fields of
a `SmokeResult`. The llama.cpp
backend runs the driver inside its isolated child process, the endpoint backend in the parent
with an HTTP session; both therefore judge the same answers the same way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from selector.smoke.checkers import ProbeResponse, ToolCall, run_checker, tool_calls_of
from selector.smoke.interface import ProbeOutcome, SmokeSettings
from selector.smoke.probes import (
    Probe,
    build_document,
    tool_prompt_preamble,
    with_document,
)
from selector.smoke.session import (
    Generation,
    ProbeSession,
    PromptRefused,
    PromptRequest,
    ToolsRefused,
)
from selector.vocab import Tuning

_THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
# Tokens a chat template adds around a prompt (system preamble, role markers), kept free when
# a long document is sized to a context.
TEMPLATE_RESERVE = 96
QUESTION_RESERVE = 128  # the question (and a base prompt's few-shot lines) after a document
OVERRUN_RESERVE = 64
OUTPUT_LIMIT = 2000  # characters of an answer kept in the result


@dataclass(frozen=True)
class Answer:
    """One generation as a checker sees it: the answer without reasoning, and the facts."""

    text: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    generation: Generation

    @property
    def truncated(self) -> bool:
        return self.generation.finish_reason == "length"

    @property
    def cut_while_thinking(self) -> bool:
        return self.truncated and not self.text and bool(self.reasoning)


def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning) from text that may carry `<think>` blocks inline. An unclosed block
    means the budget ran out while thinking: what it holds is reasoning, not an answer, even
    when the answer appears in it (the same rule on every backend)."""
    thoughts = "".join(m.group(0) for m in _THINK.finditer(text))
    answer = _THINK.sub("", text)
    start = answer.find("<think>")
    if start != -1:
        thoughts += answer[start:]
        answer = answer[:start]
    return answer.strip(), thoughts


def as_answer(gen: Generation) -> Answer:
    text, inline = split_reasoning(gen.text)
    calls = gen.tool_calls or tool_calls_of(ProbeResponse(text=text))
    return Answer(text=text, reasoning=gen.reasoning + inline, tool_calls=calls, generation=gen)


@dataclass
class _Turn:
    answer: Answer
    request: PromptRequest
    via: str  # how the probe was asked, for the detail
    notes: list[str] = field(default_factory=list)


class SuiteDriver:
    """Runs probes on one session; remembers what it learns about the model across probes
    (that it reasons before answering, how long a document fits its context)."""

    def __init__(self, session: ProbeSession, settings: SmokeSettings, tuning: Tuning) -> None:
        self.session = session
        self.settings = settings
        self.tuning = Tuning(tuning)
        self.thinking = False
        self._doc_tokens: dict[tuple[str, ...], int] = {}
        self._documents: dict[tuple[tuple[str, ...], int], str] = {}

    # -- the run ---------------------------------------------------------------------------
    def run(
        self,
        probes: Sequence[Probe],
        on_outcome: Callable[[ProbeOutcome], None] | None = None,
    ) -> list[ProbeOutcome]:
        """Every probe, `repeats` times (seed, seed+1, ...); a refused prompt is that probe's
        error; any other exception ends the run (the backend reports it)."""
        outcomes: list[ProbeOutcome] = []
        for repeat in range(self.settings.repeats):
            for probe in probes:
                outcome = self.run_probe(probe, repeat)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        return outcomes

    def run_probe(self, probe: Probe, repeat: int = 0) -> ProbeOutcome:
        started = time.perf_counter()
        base = {"id": probe.id, "capability": probe.capability, "repeat": repeat}
        context: int | None = None
        try:
            try:
                asked, context = self._prepared(probe)
                outcome = self._ask_and_judge(asked, repeat, base)
            except PromptRefused as exc:
                smaller = self._shrunk(exc, context, self._reserve(probe))
                if smaller is None:
                    raise
                # this probe and every later one of the document use the shorter length
                self._doc_tokens[_document_key(probe)] = smaller
                asked, context = self._prepared(probe)
                outcome = self._ask_and_judge(asked, repeat, base)
        except PromptRefused as exc:
            outcome = ProbeOutcome(
                **base,
                passed=False,
                status="error",
                error=exc.message,
                detail="probe did not run to an answer",
            )
        if context is not None:
            measured = outcome.prompt_tokens
            outcome = outcome.model_copy(
                update={
                    "context_tokens": measured or context,
                    "detail": f"{outcome.detail} [{self._context_note(context, measured)}]",
                }
            )
        return outcome.model_copy(update={"seconds": round(time.perf_counter() - started, 3)})

    def _ask_and_judge(self, probe: Probe, repeat: int, base: dict[str, Any]) -> ProbeOutcome:
        turn = self._first_turn(probe, repeat)
        outcome = self._judge(turn, probe.checker, probe.args, base)
        if probe.followup is not None and outcome.passed:
            final = self._followup(probe, turn, repeat)
            second = self._judge(final, probe.followup.checker, probe.followup.args, base)
            tools = {t.function.name for t in probe.tools}
            again = [c.name for c in final.answer.tool_calls if c.name in tools]
            if second.passed and again:  # the loop must end in an answer, not another call
                second = second.model_copy(
                    update={
                        "passed": False,
                        "status": "failed",
                        "detail": f"called {again[0]} again instead of answering from its "
                        f"result ({second.detail})",
                    }
                )
            outcome = self._combine(outcome, second)
        return outcome

    @staticmethod
    def _shrunk(exc: PromptRefused, target: int | None, reserve: int) -> int | None:
        """A smaller document length, when the backend said how far over its context the
        prompt was; None otherwise."""
        if target is None or not exc.prompt_tokens or not exc.limit:
            return None
        room = exc.limit - reserve
        if room <= 0 or exc.prompt_tokens <= room:
            return None
        return max(int(target * room / exc.prompt_tokens * 0.95), 64)

    def _prepared(self, probe: Probe) -> tuple[Probe, int | None]:
        if probe.document is None:
            return probe, None
        return self._with_document(probe)

    # -- asking ----------------------------------------------------------------------------
    def _budget(self, tokens: int | None) -> int:
        extra = self.settings.reasoning_tokens if self.thinking else 0
        return (tokens or self.settings.max_tokens) + extra

    def _request(self, repeat: int, budget: int | None, **fields: Any) -> PromptRequest:
        return PromptRequest(
            max_tokens=self._budget(budget),
            temperature=self.settings.temperature,
            seed=self.settings.seed + repeat,
            **fields,
        )

    def _generate(self, request: PromptRequest, notes: list[str]) -> Answer:
        """One generation; a model first seen reasoning gets the reasoning allowance from now
        on, and the answer it was cut off in is asked again with that allowance."""
        answer = as_answer(self.session.generate(request))
        if answer.reasoning and not self.thinking:
            self.thinking = True
            if answer.truncated:
                bigger = replace(
                    request, max_tokens=request.max_tokens + self.settings.reasoning_tokens
                )
                notes.append(
                    f"the model reasons before answering: asked again with "
                    f"{bigger.max_tokens} tokens"
                )
                answer = as_answer(self.session.generate(bigger))
        return answer

    def _first_turn(self, probe: Probe, repeat: int) -> _Turn:
        notes: list[str] = []
        if self.tuning is Tuning.BASE:
            request = self._request(
                repeat, probe.max_tokens, prompt=probe.base_prompt(), stop=tuple(probe.stop)
            )
            answer = self._generate(request, notes)
            if probe.completion_prefix:
                answer = _prefixed(answer, probe.completion_prefix)
            return _Turn(answer, request, "few-shot completion", notes)
        messages = tuple(probe.chat_messages())
        if not probe.tools:
            request = self._request(repeat, probe.max_tokens, messages=messages)
            return _Turn(self._generate(request, notes), request, "chat", notes)
        # tools through the API / chat template first; in the prompt when refused or ignored
        request = self._request(
            repeat, probe.max_tokens, messages=messages, tools=tuple(probe.tool_dicts())
        )
        try:
            answer = self._generate(request, notes)
        except ToolsRefused as exc:
            why = exc.message
        except PromptRefused as exc:
            why = f"the request with `tools` was refused ({exc.message})"
        else:
            if answer.tool_calls or probe.checker != "tool_call":
                how = "structured tool call via `tools`" if answer.generation.tool_calls else ""
                return _Turn(answer, request, how or "chat with `tools`", notes)
            why = "no tool call came back through `tools`"
        described = _described_tools(probe, messages)
        request = self._request(repeat, probe.max_tokens, messages=described)
        answer = self._generate(request, notes)
        return _Turn(answer, request, f"{why}; prompt-based fallback used", notes)

    def _followup(self, probe: Probe, turn: _Turn, repeat: int) -> _Turn:
        """The agent loop's second turn: the tool's result goes back, the model answers."""
        assert probe.followup is not None
        result = json.dumps(probe.followup.result, ensure_ascii=False)
        budget = probe.followup.max_tokens
        first = turn.answer
        call = first.tool_calls[0] if first.tool_calls else None
        name = call.name if call else "the function"
        notes: list[str] = []
        if turn.request.prompt is not None:  # base weights: continue the few-shot transcript
            written = first.generation.text.removeprefix(probe.completion_prefix).rstrip()
            prompt = f"{turn.request.prompt}{written}\nResult: {result}\nAnswer:"
            request = self._request(repeat, budget, prompt=prompt, stop=("\n",))
            return _Turn(self._generate(request, notes), request, "few-shot completion", notes)
        history = tuple(turn.request.messages)
        if turn.request.tools:
            if first.generation.tool_calls:  # the API parsed the call: answer it in kind
                assistant = {
                    "role": "assistant",
                    "content": first.text,
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for i, c in enumerate(first.generation.tool_calls)
                    ],
                }
            else:  # the call came as text: the model sees what it wrote
                assistant = {"role": "assistant", "content": first.text}
            tool_msg = {"role": "tool", "tool_call_id": "call_0", "content": result}
            request = self._request(
                repeat,
                budget,
                messages=(*history, assistant, tool_msg),
                tools=turn.request.tools,
            )
            try:
                return _Turn(
                    self._generate(request, notes), request, "tool result as `tool`", notes
                )
            except PromptRefused as exc:
                notes.append(f"a `tool` message was refused ({exc.message}); sent as text")
        plain = (
            {"role": "assistant", "content": first.text},
            {
                "role": "user",
                "content": f"The function {name} returned: {result}\n"
                "Using this result, answer my original question.",
            },
        )
        request = self._request(repeat, budget, messages=(*history, *plain))
        return _Turn(self._generate(request, notes), request, "tool result as text", notes)

    # -- judging ---------------------------------------------------------------------------
    def _judge(
        self,
        turn: _Turn,
        checker: str,
        args: dict[str, Any],
        base: dict[str, Any],
    ) -> ProbeOutcome:
        answer = turn.answer
        verdict = run_checker(checker, args, ProbeResponse(answer.text, answer.tool_calls))
        status = "passed" if verdict.passed else "failed"
        detail = verdict.detail
        if not verdict.passed and answer.truncated:
            status = "truncated"
            what = "while reasoning" if answer.cut_while_thinking else "before the answer was done"
            detail = (
                f"cut off at the {turn.request.max_tokens}-token budget {what} "
                f"(finish_reason=length); the partial answer: {verdict.detail}"
            )
        extras = [*turn.notes]
        if answer.generation.note:
            extras.append(answer.generation.note)
        via = (
            f"{turn.via}: " if turn.via and turn.via not in ("chat", "few-shot completion") else ""
        )
        gen = answer.generation
        return ProbeOutcome(
            **base,
            passed=verdict.passed,
            status=status,
            output=_output(answer),
            detail=via + detail + "".join(f"; {e}" for e in extras),
            finish_reason=gen.finish_reason,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
        )

    @staticmethod
    def _combine(first: ProbeOutcome, second: ProbeOutcome) -> ProbeOutcome:
        return second.model_copy(
            update={
                "output": f"{first.output}\n[tool result sent]\n{second.output}",
                "detail": f"call: {first.detail}; final answer: {second.detail}",
                "prompt_tokens": second.prompt_tokens,
                "completion_tokens": (first.completion_tokens or 0)
                + (second.completion_tokens or 0)
                or None,
            }
        )

    # -- long context ----------------------------------------------------------------------
    def _requested(self) -> int:
        plan = self.settings.suite
        return plan.context_tokens or self.session.context_limit or self.settings.n_ctx

    def _reserve(self, probe: Probe) -> int:
        """Tokens a document leaves free: template, question, answer budget, and a margin
        (llama-cpp-python runs a little past max_tokens to finish a UTF-8 sequence)."""
        budget = self._budget(probe.max_tokens)
        return TEMPLATE_RESERVE + QUESTION_RESERVE + budget + min(budget, OVERRUN_RESERVE)

    def _with_document(self, probe: Probe) -> tuple[Probe, int]:
        """The probe with its document at the run's length. The length is fixed at the first
        probe of a document, so all of them share one text (and a backend's prefix cache)."""
        assert probe.document is not None
        key = _document_key(probe)
        target = self._doc_tokens.get(key)
        if target is None:
            room = self._requested()
            limit = self.session.context_limit
            if limit is not None:
                room = min(room, limit)
            target = self._doc_tokens[key] = max(room - self._reserve(probe), 64)
        if (key, target) not in self._documents:
            self._documents[(key, target)] = build_document(probe.document, target)
        return with_document(probe, self._documents[(key, target)]), target

    def _context_note(self, target: int, measured: int | None) -> str:
        requested = self._requested()
        limit = self.session.context_limit
        length = f"{measured:,} prompt tokens" if measured else f"~{target:,} tokens (estimated)"
        note = f"ran at {length}"
        if limit is not None and limit < requested:
            note += f"; requested {requested:,}, the smoke context holds {limit:,}"
        return note


def _document_key(probe: Probe) -> tuple[str, ...]:
    assert probe.document is not None
    return (*probe.document.filler, "\0", *probe.document.facts)


def _prefixed(answer: Answer, prefix: str) -> Answer:
    """A base model's completion with the answer's start the few-shot prompt already wrote,
    joined to the raw text (a code body keeps its first line's newline and indent)."""
    raw = answer.generation.text
    text = raw if raw.lstrip().startswith(prefix) else prefix + raw
    return as_answer(replace(answer.generation, text=text))


def _described_tools(probe: Probe, messages: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    """The chat messages with the tools described in the first user turn."""
    preamble = tool_prompt_preamble(probe.tools)
    out, done = [], False
    for m in messages:
        m = dict(m)
        if not done and m["role"] == "user":
            m["content"] = preamble + m["content"]
            done = True
        out.append(m)
    return tuple(out)


def _output(answer: Answer) -> str:
    text = answer.text
    if answer.generation.tool_calls:
        calls = [{"name": c.name, "arguments": dict(c.arguments)} for c in answer.tool_calls]
        text = (text + "\n" if text else "") + "tool_calls: " + json.dumps(calls)
    if not text and answer.reasoning:
        text = f"(reasoning only: {answer.reasoning.strip()[-300:]})"
    return text[:OUTPUT_LIMIT]


def run_probes(
    session: ProbeSession,
    settings: SmokeSettings,
    tuning: Tuning,
    on_outcome: Callable[[ProbeOutcome], None] | None = None,
) -> list[ProbeOutcome]:
    """The run's suite (`settings.suite`) on one session, with its repeats."""
    driver = SuiteDriver(session, settings, tuning)
    return driver.run(settings.suite.probes(), on_outcome)
