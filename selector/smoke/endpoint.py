"""Smoke backend for OpenAI-compatible servers (vLLM, llama-server, Ollama, TGI): same probes,
same result object as the llama.cpp backend, for models too large for the machine at hand."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from selector.errors import InputError
from selector.smoke.checkers import ToolCall
from selector.smoke.interface import ProbeOutcome, SmokeResult, SmokeSettings
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
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Request errors that concern one probe's prompt (too long for the served context, say): that
# probe fails with the error, as in the llama.cpp backend, and the suite goes on.
_PROBE_LEVEL_STATUSES = (400, 413, 422)
# The decode-speed run prefills the same text as the llama.cpp backend's (the recall probe's
# context and questions) and asks for a long answer, so the two TTFT figures are comparable.
_SPEED_TAIL = (
    "\n\nAnswer the last question, then count from 1 to 500 in digits, separated by single spaces."
)


@dataclass(frozen=True)
class SpeedFigures:
    """Latency and throughput from one streamed completion, and where the token count came from."""

    time_to_first_token_ms: float
    decode_tokens_per_s: float
    prefill_tokens_per_s: float
    prompt_tokens: int
    speed_tokens: int
    note: str


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
        if api_key_env is not None and not _ENV_NAME.fullmatch(api_key_env):
            # The value is not echoed: a user may have pasted the key itself here.
            raise InputError(
                "api_key_env must be the NAME of an environment variable (letters, digits, _), "
                "not the key itself"
            )
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
        """Run the suite and the speed measurement; server trouble becomes an `error` result."""
        started = time.perf_counter()
        outcomes: list[ProbeOutcome] = []
        http = OpenAIHttp(self.base_url, api_key_env=self.api_key_env, policy=self.policy)
        served: list[str] = []
        try:
            deadline = Deadline(settings.timeout_s)
            with http:
                served = self._preflight(http, deadline)
                session = EndpointSession(self, http, deadline)
                run_probes(session, settings, self.tuning, on_outcome=outcomes.append)
                speed = self._speed_run(http, settings, deadline)
        except EndpointError as exc:
            message = exc.message
            if exc.status == 404 and served and self.model not in served:
                # vLLM and Ollama refuse a model name they do not serve; say which they do
                message += f"; the server serves {', '.join(served[:5])}, not {self.model!r}"
            return self._finish(http, SmokeResult.error(message), outcomes, started, settings)
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
                "probes": probes,
                **summarize(probes, settings).fields(),
                "backend": f"{BACKEND_NAME} {self.base_url} model={self.model}",
                "suite_version": SUITE_VERSION,
                "wall_time_s": round(time.perf_counter() - started, 3),
            }
        )

    def _preflight(self, http: OpenAIHttp, deadline: Deadline) -> list[str]:
        """GET /models: a fast, clear failure for a dead or locked server before any probe.

        Returns the served model ids. A name not among them is not an error yet: llama-server
        and llama_cpp.server answer for any name, vLLM and Ollama 404 on the first probe.
        """
        try:
            return http.list_models(deadline)
        except EndpointError as exc:
            if exc.status in (404, 405):  # some proxies do not route /models; the probes decide
                return []
            raise

    # -- speed -----------------------------------------------------------------------------
    def _speed_run(
        self, http: OpenAIHttp, settings: SmokeSettings, deadline: Deadline
    ) -> SpeedFigures:
        prompt = SPEED_PROMPT
        if self.tuning is Tuning.BASE:
            body = self._completion_body(prompt, settings.speed_tokens, settings)
            streamed = self._post(http, "/completions", body, chat=False, deadline=deadline)
        else:
            messages = [{"role": "user", "content": prompt + _SPEED_TAIL}]
            body = self._chat_body(messages, settings.speed_tokens, settings)
            streamed = self._post(http, "/chat/completions", body, chat=True, deadline=deadline)
        return speed_figures(streamed)

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


def speed_figures(streamed: StreamedCompletion) -> SpeedFigures:
    """TTFT from request to first token; decode speed over the tokens after the first."""
    tokens, source = streamed.completion_tokens
    if streamed.first_token_at is None or streamed.last_token_at is None:
        return SpeedFigures(0.0, 0.0, 0.0, 0, 0, "speed run produced no tokens")
    ttft_s = max(streamed.first_token_at - streamed.sent_at, 0.0)
    span = streamed.last_token_at - streamed.first_token_at
    decode = (tokens - 1) / span if tokens >= 2 and span > 0 else 0.0
    prompt_tokens = streamed.prompt_tokens
    prefill = prompt_tokens / ttft_s if prompt_tokens and ttft_s > 0 else 0.0
    note = f"decode speed over {tokens} tokens ({source})"
    if decode == 0.0:
        note = f"decode speed not measurable ({tokens} tokens, {source})"
    return SpeedFigures(
        time_to_first_token_ms=round(ttft_s * 1000, 1),
        decode_tokens_per_s=round(decode, 2),
        prefill_tokens_per_s=round(prefill, 1),
        prompt_tokens=prompt_tokens or 0,
        speed_tokens=tokens,
        note=note,
    )


def _check_base_url(base_url: str) -> str:
    """An http(s) URL without credentials or query, so it is safe to print in any report."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"endpoint base URL {base_url!r} is not an http(s) URL "
            "(expected e.g. http://gpu-box:8000/v1)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError(
            "endpoint base URL must not carry credentials, a query or a fragment; "
            "put the API key in an environment variable and name it with api_key_env"
        )
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
