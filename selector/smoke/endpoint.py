"""Smoke backend for OpenAI-compatible servers (vLLM, llama-server, Ollama, TGI): same probes,
same result object as the llama.cpp backend, for models too large for the machine at hand."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from typing import Any

from selector.errors import InputError
from selector.redact import base_url_problem, env_name_problem
from selector.smoke.checkers import ProbeResponse, ToolCall
from selector.smoke.contention import judge_speed
from selector.smoke.endpoint_speed import (
    NO_EARLY_STOP,
    SpeedFigures,
    median_figures,
    speed_figures,
)
from selector.smoke.interface import (
    ProbeOutcome,
    SmokeResult,
    SmokeSettings,
    SmokeStatus,
    SpeedEvidence,
)
from selector.smoke.openai_http import Deadline, EndpointError, HttpPolicy, OpenAIHttp
from selector.smoke.probes import (
    PROBES,
    SUITE_VERSION,
    Probe,
    evaluate,
    suite_passed,
    tool_prompt_messages,
)
from selector.smoke.sse import StreamedCompletion
from selector.vocab import Tuning

log = logging.getLogger(__name__)

BACKEND_NAME = "endpoint"

# Request errors that concern one probe's prompt (too long for the served context, say): that
# probe fails with the error, as in the llama.cpp backend, and the suite goes on.
_PROBE_LEVEL_STATUSES = (400, 413, 422)
_THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
# The decode-speed run prefills the same text as the llama.cpp backend's (the recall probe's
# context and questions) and asks for a long answer, so the two TTFT figures are comparable.
_SPEED_TAIL = (
    "\n\nAnswer the last question, then count from 1 to 500 in digits, separated by single spaces."
)


class EndpointBackend:
    """Runs the probe suite against one served model over the OpenAI API.

    The API key is never held: `api_key_env` names an environment variable read at request
    time. Results are not cached (`cache_key()` is None): what sits behind a URL and a served
    model name can change between runs, so a cached verdict would be evidence about nothing.
    """

    parallel_safe = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        tuning: Tuning = Tuning.INSTRUCT,
        timeout_s: float = 60,
        connect_timeout_s: float = 5,
        retries: int = 3,
        backoff_s: float = 0.5,
        probes: Sequence[Probe] = PROBES,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        if not model.strip():
            raise InputError("endpoint model name is empty: give the served model name")
        key_problem = env_name_problem(api_key_env) if api_key_env is not None else None
        if key_problem:
            # The value is not echoed: a user may have pasted the key itself here.
            raise InputError(f"api_key_env {key_problem}")
        if not all(math.isfinite(x) for x in (timeout_s, connect_timeout_s, backoff_s)):
            raise InputError("endpoint timeouts must be finite numbers of seconds")
        if timeout_s <= 0 or connect_timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise InputError("endpoint timeouts must be > 0, retries and backoff >= 0")
        self.model = model
        self.api_key_env = api_key_env
        self.tuning = Tuning(tuning)
        self.policy = HttpPolicy(
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            retries=retries,
            backoff_s=backoff_s,
        )
        self.probes = tuple(probes)
        self._send_stream_options = True
        self._send_no_early_stop = True
        self.name = f"{model} @ {self.base_url}"

    def __repr__(self) -> str:
        return (
            f"EndpointBackend({self.base_url!r}, {self.model!r}, "
            f"api_key_env={self.api_key_env!r}, tuning={self.tuning.value!r})"
        )

    def cache_key(self) -> None:
        """Endpoints are never cached (see the class docstring)."""
        return None

    # -- the run ---------------------------------------------------------------------------
    def run(self, settings: SmokeSettings) -> SmokeResult:
        """Run the suite and the speed measurement; server trouble becomes an `error` result.

        Anything that fails before the first probe is sent (an unset key variable, a refused
        connection, a wrong key, a model name the server does not serve) is a setup error:
        the model was never asked, so the result says nothing about it.
        """
        started = time.perf_counter()
        outcomes: list[ProbeOutcome] = []
        http = OpenAIHttp(self.base_url, api_key_env=self.api_key_env, policy=self.policy)
        notes: list[str] = []
        asked = False
        try:
            deadline = Deadline(settings.timeout_s)
            with http:
                self._preflight(http, deadline, notes)
                asked = True
                for probe in self.probes:
                    outcomes.append(self._run_probe(http, probe, settings, deadline))
                speed, evidence = self._speed_run(http, settings, deadline, notes)
        except EndpointError as exc:
            failed = SmokeResult.error(exc.message, setup=not asked, notes=notes)
            return self._finish(http, failed, outcomes, started, settings)
        except Exception as exc:  # a bug here must not take the whole run down
            log.exception("endpoint backend failed")
            message = f"internal error in endpoint backend: {type(exc).__name__}: {exc}"
            return self._finish(http, SmokeResult.error(message), outcomes, started, settings)
        ok, verdict = suite_passed(outcomes, len(self.probes))
        reason = f"{verdict}; {speed.note}"
        result = SmokeResult(
            status=SmokeStatus.PASSED if ok else SmokeStatus.FAILED,
            reason=reason,
            decode_tokens_per_s=speed.decode_tokens_per_s,
            time_to_first_token_ms=speed.time_to_first_token_ms,
            prefill_tokens_per_s=speed.prefill_tokens_per_s,
            prompt_tokens=speed.prompt_tokens,
            speed_tokens=speed.speed_tokens,
            speed=evidence,
            notes=notes,
        )
        return self._finish(http, result, outcomes, started, settings)

    def _finish(
        self,
        http: OpenAIHttp,
        result: SmokeResult,
        outcomes: list[ProbeOutcome],
        started: float,
        settings: SmokeSettings,
    ) -> SmokeResult:
        """Fill the fields every result carries, and scrub the key from every string."""
        probes = [
            o.model_copy(update={"output": http.redact(o.output), "detail": http.redact(o.detail)})
            for o in outcomes
        ]
        return result.model_copy(
            update={
                "reason": http.redact(result.reason),
                "notes": [http.redact(n) for n in result.notes],
                "probes": probes,
                "probes_passed": sum(o.passed for o in probes),
                "probes_total": len(self.probes),
                "backend": f"{BACKEND_NAME} {self.base_url} model={self.model}",
                "suite_version": SUITE_VERSION,
                "wall_time_s": round(time.perf_counter() - started, 3),
            }
        )

    def _preflight(self, http: OpenAIHttp, deadline: Deadline, notes: list[str]) -> list[str]:
        """GET /models: the server answers, the key works, and it serves the model named.

        Returns the served model ids. A name the server does not list is refused before any
        probe: llama-server and llama_cpp.server answer for any name with whatever they
        serve, so another model's answers would be credited to the one named. Where /models
        is not routed (some proxies) the name cannot be checked, and a note says so.
        """
        try:
            served = http.list_models(deadline)
        except EndpointError as exc:
            if exc.status in (404, 405):
                notes.append(f"served model not verified: {exc.message}")
                return []
            raise
        if not served:
            notes.append("served model not verified: GET /models listed no model")
            return served
        if self.model not in served and f"{self.model}:latest" not in served:
            shown = ", ".join(repr(m) for m in served[:5]) + (" ..." if len(served) > 5 else "")
            raise EndpointError(
                f"{self.base_url} serves {shown}, not {self.model!r}: "
                "set served_model (or --model) to the name the server lists"
            )
        return served

    # -- probes ----------------------------------------------------------------------------
    def _run_probe(
        self, http: OpenAIHttp, probe: Probe, settings: SmokeSettings, deadline: Deadline
    ) -> ProbeOutcome:
        """One probe's outcome; a request refused for its content fails only this probe."""
        try:
            outcome = self._ask(http, probe, settings, deadline)
        except EndpointError as exc:
            if exc.status not in _PROBE_LEVEL_STATUSES:
                raise
            outcome = ProbeOutcome(
                id=probe.id,
                passed=False,
                error=exc.message,
                detail="probe did not run to an answer",
            )
        return outcome.model_copy(update={"kind": probe.kind})

    def _ask(
        self, http: OpenAIHttp, probe: Probe, settings: SmokeSettings, deadline: Deadline
    ) -> ProbeOutcome:
        max_tokens = probe.max_tokens or settings.max_tokens
        if self.tuning is Tuning.BASE:
            body = self._completion_body(probe.completion_prompt, max_tokens, settings)
            body["stop"] = list(probe.stop)
            streamed = self._post(http, "/completions", body, chat=False, deadline=deadline)
            return self._judge(probe, streamed)
        messages = [dict(m) for m in probe.messages]
        body = self._chat_body(messages, max_tokens, settings)
        if not probe.tools:
            streamed = self._post(http, "/chat/completions", body, chat=True, deadline=deadline)
            return self._judge(probe, streamed)
        body["tools"] = [dict(t) for t in probe.tools]
        body["tool_choice"] = "auto"
        try:
            streamed = self._post(http, "/chat/completions", body, chat=True, deadline=deadline)
        except EndpointError as exc:
            if exc.status not in (400, 422):
                raise
            why = f"server rejected `tools` ({_first_clause(exc.message)})"
        else:
            if any(c.name for c in streamed.tool_calls):
                return self._judge(probe, streamed, prefix="structured tool call via `tools`: ")
            why = "no structured tool call came back through `tools`"
        fallback = self._chat_body(
            [dict(m) for m in tool_prompt_messages(probe)], max_tokens, settings
        )
        streamed = self._post(http, "/chat/completions", fallback, chat=True, deadline=deadline)
        return self._judge(probe, streamed, prefix=f"{why}; prompt-based fallback used: ")

    def _judge(self, probe: Probe, streamed: StreamedCompletion, prefix: str = "") -> ProbeOutcome:
        calls = []
        bad_args = []
        for call in streamed.tool_calls:
            if not call.name:
                continue
            arguments = call.parsed_arguments()
            if arguments is None:
                bad_args.append(call.name)
            calls.append(ToolCall(name=call.name, arguments=arguments or {}))
        text, reasoning = split_reasoning(streamed.text)
        reasoning = streamed.reasoning + reasoning
        outcome = evaluate(probe, ProbeResponse(text=text, tool_calls=tuple(calls)))
        extra = []
        if bad_args:
            extra.append(f"arguments of {', '.join(bad_args)} were not a JSON object")
        if not text and not calls and reasoning:
            extra.append(
                f"only reasoning came back ({len(reasoning)} chars, "
                f"finish_reason={streamed.finish_reason}): the budget went to thinking"
            )
        detail = prefix + outcome.detail + "".join(f"; {e}" for e in extra)
        return outcome.model_copy(update={"detail": detail})

    # -- speed -----------------------------------------------------------------------------
    def _speed_run(
        self, http: OpenAIHttp, settings: SmokeSettings, deadline: Deadline, notes: list[str]
    ) -> tuple[SpeedFigures, SpeedEvidence]:
        """`speed_runs` timed completions of `speed_tokens` tokens each; the medians count.

        The probes, sent first, warm the server up (a lazily loaded model, cold caches).
        """
        prompt = next(p for p in self.probes if p.kind == "recall").completion_prompt
        runs: list[SpeedFigures] = []
        for _ in range(settings.speed_runs):
            if self.tuning is Tuning.BASE:
                body = self._completion_body(prompt, settings.speed_tokens, settings)
                path, chat = "/completions", False
            else:
                messages = [{"role": "user", "content": prompt + _SPEED_TAIL}]
                body = self._chat_body(messages, settings.speed_tokens, settings)
                path, chat = "/chat/completions", True
            runs.append(speed_figures(self._post_timed(http, path, body, chat, deadline, notes)))
        return median_figures(runs), judge_speed(
            [r.decode_tokens_per_s for r in runs if r.decode_tokens_per_s is not None],
            [r.time_to_first_token_ms for r in runs if r.time_to_first_token_ms is not None],
            min(r.speed_tokens for r in runs),
            warmup="the probes, sent before the timed runs",
            where="endpoint",
            busy=None,
            busy_detail="the serving machine's load is not visible from here",
        )

    def _post_timed(
        self,
        http: OpenAIHttp,
        path: str,
        body: dict[str, Any],
        chat: bool,
        deadline: Deadline,
        notes: list[str],
    ) -> StreamedCompletion:
        """One timed request, asking the server not to stop early where it accepts that."""
        if not self._send_no_early_stop:
            return self._post(http, path, body, chat=chat, deadline=deadline)
        asked = {**body, "ignore_eos": True, "min_tokens": body["max_tokens"]}
        try:
            return self._post(http, path, asked, chat=chat, deadline=deadline)
        except EndpointError as exc:
            if exc.status not in (400, 422):
                raise
            self._send_no_early_stop = False
            notes.append(
                f"the server refused {' / '.join(NO_EARLY_STOP)} ({_first_clause(exc.message)}); "
                "timed runs may stop before speed_tokens"
            )
        return self._post(http, path, body, chat=chat, deadline=deadline)

    # -- request bodies --------------------------------------------------------------------
    def _chat_body(
        self, messages: list[dict[str, Any]], max_tokens: int, settings: SmokeSettings
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": settings.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def _completion_body(
        self, prompt: str, max_tokens: int, settings: SmokeSettings
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": settings.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def _post(
        self, http: OpenAIHttp, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline
    ) -> StreamedCompletion:
        """Stream one request; drop `stream_options` for good if this server refuses it."""
        if not self._send_stream_options:
            body = {k: v for k, v in body.items() if k != "stream_options"}
        try:
            return http.stream(path, body, chat=chat, deadline=deadline)
        except EndpointError as exc:
            if exc.status not in (400, 422) or "stream_options" not in body:
                raise
            if "tools" in body and "stream_options" not in exc.message:
                raise  # most likely `tools` was refused; the tool probe falls back on its own
        retry = {k: v for k, v in body.items() if k != "stream_options"}
        streamed = http.stream(path, retry, chat=chat, deadline=deadline)
        self._send_stream_options = False  # the server answers without it; stop sending it
        return streamed


def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning) from content that carries `<think>` blocks inline (no server-side
    reasoning parser); an unclosed block means the budget ran out while thinking."""
    thoughts = "".join(m.group(0) for m in _THINK.finditer(text))
    answer = _THINK.sub("", text)
    start = answer.find("<think>")
    if start != -1:
        thoughts += answer[start:]
        answer = answer[:start]
    return answer.strip(), thoughts


def _check_base_url(base_url: str) -> str:
    """An http(s) URL without credentials or query, so it is safe to print in any report."""
    problem = base_url_problem(base_url)
    if problem:
        raise InputError(f"endpoint base URL {problem}")
    return base_url.strip().rstrip("/")


def _first_clause(message: str) -> str:
    head = message.split(" from ", 1)[0]
    tail = message.split(": ", 1)[1] if ": " in message else ""
    return f"{head}: {tail}" if tail else head
