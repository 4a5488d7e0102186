"""Smoke backend for OpenAI-compatible servers (vLLM, llama-server, Ollama, TGI): same probes,
same result object as the llama.cpp backend, for models too large for the machine at hand."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from selector.errors import InputError
from selector.redact import base_url_problem, env_name_problem
from selector.smoke.checkers import ToolCall
from selector.smoke.contention import judge_speed
from selector.smoke.endpoint_speed import (
    NO_EARLY_STOP,
    SpeedFigures,
    median_figures,
    speed_figures,
)
from selector.smoke.interface import ProbeOutcome, SmokeResult, SmokeSettings, SpeedEvidence
from selector.smoke.openai_http import Deadline, EndpointError, HttpPolicy, OpenAIHttp
from selector.smoke.probes import SPEED_PROMPT, SUITE_VERSION
from selector.smoke.session import (
    Generation,
    PromptRefused,
    PromptRequest,
    ToolsRefused,
    context_numbers,
)
from selector.smoke.sse import StreamedCompletion
from selector.smoke.suite import run_probes
from selector.smoke.verdict import summarize
from selector.vocab import Tuning

log = logging.getLogger(__name__)

BACKEND_NAME = "endpoint"

# Request errors that concern one probe's prompt (too long for the served context, say): that
# probe fails with the error, as in the llama.cpp backend, and the suite goes on.
_PROBE_LEVEL_STATUSES = (400, 413, 422)
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

    def resolve(self, settings: SmokeSettings) -> SmokeSettings:
        """Settings as this backend runs them (thread counts belong to the server)."""
        return settings

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
                session = EndpointSession(self, http, deadline)
                run_probes(session, settings, self.tuning, on_outcome=outcomes.append)
                speed, evidence = self._speed_run(http, settings, deadline, notes)
        except EndpointError as exc:
            failed = SmokeResult.error(exc.message, setup=not asked, notes=notes)
            return self._finish(http, failed, outcomes, started, settings)
        except Exception as exc:  # a bug here must not take the whole run down
            log.exception("endpoint backend failed")
            message = f"internal error in endpoint backend: {type(exc).__name__}: {exc}"
            return self._finish(http, SmokeResult.error(message), outcomes, started, settings)
        summary = summarize(outcomes, settings)
        result = SmokeResult(
            status=summary.status,
            reason=f"{summary.reason}; {speed.note}",
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
            o.model_copy(
                update={
                    "output": http.redact(o.output),
                    "detail": http.redact(o.detail),
                    "error": http.redact(o.error),
                }
            )
            for o in outcomes
        ]
        return result.model_copy(
            update={
                "reason": http.redact(result.reason),
                "notes": [http.redact(n) for n in result.notes],
                "probes": probes,
                **summarize(probes, settings).fields(),
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

    # -- speed -----------------------------------------------------------------------------
    def _speed_run(
        self, http: OpenAIHttp, settings: SmokeSettings, deadline: Deadline, notes: list[str]
    ) -> tuple[SpeedFigures, SpeedEvidence]:
        """`speed_runs` timed completions of `speed_tokens` tokens each; the medians count.

        The probes, sent first, warm the server up (a lazily loaded model, cold caches).
        """
        prompt = SPEED_PROMPT
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


class EndpointSession:
    """The HTTP side of the probe seam (selector/smoke/session.py): one streamed request per
    prompt. Instruct prompts go to /chat/completions, base prompts to /completions."""

    context_limit: int | None = None  # the server's context is its own; an overflow says so

    def __init__(self, backend: EndpointBackend, http: OpenAIHttp, deadline: Deadline) -> None:
        self.backend = backend
        self.http = http
        self.deadline = deadline

    def generate(self, request: PromptRequest) -> Generation:
        body: dict[str, Any] = {
            "model": self.backend.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.chat:
            path = "/chat/completions"
            body["messages"] = [dict(m) for m in request.messages]
            if request.tools:
                body["tools"] = [dict(t) for t in request.tools]
                body["tool_choice"] = "auto"
        else:
            path = "/completions"
            body["prompt"] = request.prompt
        started = time.perf_counter()
        try:
            streamed = self.backend._post(
                self.http, path, body, chat=request.chat, deadline=self.deadline
            )
        except EndpointError as exc:
            if exc.status not in _PROBE_LEVEL_STATUSES:
                raise
            if request.tools and exc.status in (400, 422):
                why = f"server rejected `tools` ({_first_clause(exc.message)})"
                raise ToolsRefused(why) from None
            prompt_tokens, limit = context_numbers(exc.message)
            raise PromptRefused(exc.message, prompt_tokens=prompt_tokens, limit=limit) from None
        return _generation(streamed, time.perf_counter() - started)


def _generation(streamed: StreamedCompletion, seconds: float) -> Generation:
    calls, bad_args = [], []
    for call in streamed.tool_calls:
        if not call.name:
            continue
        arguments = call.parsed_arguments()
        if arguments is None:
            bad_args.append(call.name)
        calls.append(ToolCall(name=call.name, arguments=arguments or {}))
    usage = streamed.usage or {}
    completion = usage.get("completion_tokens")
    return Generation(
        text=streamed.text,
        reasoning=streamed.reasoning,
        tool_calls=tuple(calls),
        finish_reason=streamed.finish_reason,
        prompt_tokens=streamed.prompt_tokens,
        completion_tokens=completion if isinstance(completion, int) else None,
        seconds=seconds,
        note=f"arguments of {', '.join(bad_args)} were not a JSON object" if bad_args else "",
    )
