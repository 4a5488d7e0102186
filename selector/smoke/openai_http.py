"""HTTP side of the endpoint backend: streaming requests, timeouts, retries, API-key hygiene."""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from selector.redact import REDACTED, display_url
from selector.redact import redact as redact_text
from selector.smoke.cancel import cancellable_sleep, requests_cancelled
from selector.smoke.http_bounds import (
    ERROR_BODY_LIMIT,
    MODELS_BODY_LIMIT,
    BodyLimitError,
    DeadlineNetwork,
    install,
    iter_lines,
    read_body,
)
from selector.smoke.sse import StreamedCompletion, StreamError, read_stream
from selector.textsafe import one_line

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
__all__ = ["REDACTED", "Deadline", "EndpointError", "HttpPolicy", "OpenAIHttp"]


class EndpointError(Exception):
    """A server problem phrased for the report; never contains the API key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _Retryable(Exception):
    """One attempt failed in a way worth another try (429, 5xx, connection reset)."""

    def __init__(self, message: str, *, status: int | None, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class HttpPolicy:
    """How long to wait and how often to retry; the same for every request of one endpoint."""

    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    max_retry_after_s: float = 30.0


class Deadline:
    """The wall-clock budget of a whole smoke run, shared by all its requests."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return self._end - self._clock()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise EndpointError(f"smoke run exceeded its {self.seconds:g} s timeout")


class OpenAIHttp:
    """Talks to one OpenAI-compatible base URL; every failure becomes an EndpointError."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str | None,
        policy: HttpPolicy,
        sleep: Callable[[float], None] = cancellable_sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._client: httpx.Client | None = None
        self._network = DeadlineNetwork()
        self._last_data = 0.0  # when the current request last received bytes (monotonic)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> OpenAIHttp:
        import httpx

        self._client = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout_s, connect=self.policy.connect_timeout_s),
            follow_redirects=False,
        )
        install(self._client, self._network)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"OpenAIHttp({self.base_url!r}, api_key_env={self.api_key_env!r})"

    # -- API key ---------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        """The key, read from the environment at request time; never stored on the object."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise EndpointError(f"environment variable {self.api_key_env} (API key) is not set")
        return value

    def redact(self, text: str) -> str:
        """Remove the API key from any text the server or a library produced."""
        if self.api_key_env:
            return redact_text(text, os.environ.get(self.api_key_env))
        return text

    def _headers(self) -> dict[str, str]:
        # identity: nothing to decompress; a server that compresses anyway is decoded with a cap
        headers = {"Accept": "text/event-stream, application/json", "Accept-Encoding": "identity"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- requests --------------------------------------------------------------------------
    def list_models(self, deadline: Deadline) -> list[str]:
        """The ids GET /models lists; EndpointError when the server cannot be reached or refuses."""
        url = f"{self.base_url}/models"

        def attempt() -> list[str]:
            with self._send("GET", url, deadline) as response:
                body = self._read(response, "GET", url, deadline, limit=MODELS_BODY_LIMIT)
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):  # bad JSON, a number of 5000 digits
                raise EndpointError(f"malformed JSON from GET {url}") from None
            items = data.get("data") if isinstance(data, dict) else None
            items = items if isinstance(items, list) else []
            return [one_line(m["id"], 200) for m in items if isinstance(m, dict) and m.get("id")]

        return self._with_retries(attempt, "GET", url, deadline)

    def stream(
        self, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline
    ) -> StreamedCompletion:
        """POST `body` with `stream: true` and read the whole event stream, retrying 429/5xx.

        The whole request (connect, headers, every byte of the body) ends by the deadline, the
        body is read up to STREAM_BODY_LIMIT, and the key is gone from every text it returns.
        """
        url = f"{self.base_url}{path}"

        def attempt() -> StreamedCompletion:
            sent_at = time.perf_counter()
            with self._send("POST", url, deadline, json_body=body) as response:
                lines = iter_lines(response, on_chunk=self._on_chunk(deadline, "POST", url))
                try:
                    result = read_stream(lines, chat=chat, on_event=None, redact=self.redact)
                except StreamError as exc:
                    raise EndpointError(f"{self.redact(str(exc))} from POST {url}") from None
                except BodyLimitError as exc:
                    raise EndpointError(f"{exc} from POST {url}: stopped reading") from None
                except (EndpointError, _Retryable):
                    raise
                except Exception as exc:
                    raise self._transport_error(
                        exc, "POST", url, deadline, streaming=True
                    ) from None
            result.sent_at = sent_at
            return self._scrubbed(result)

        return self._with_retries(attempt, "POST", url, deadline)

    # -- internals -------------------------------------------------------------------------
    def _require_client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("OpenAIHttp must be used as a context manager")
        return self._client

    def _timeout(self, deadline: Deadline) -> httpx.Timeout:
        import httpx

        budget = max(0.05, min(self.policy.timeout_s, deadline.remaining()))
        return httpx.Timeout(budget, connect=min(self.policy.connect_timeout_s, budget))

    @contextlib.contextmanager
    def _send(
        self, method: str, url: str, deadline: Deadline, json_body: dict[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """One request under the deadline; a status of 300 or more becomes the right error."""
        client = self._require_client()
        headers = self._headers()
        self._network.remaining = deadline.remaining
        self._last_data = time.monotonic()
        try:
            with client.stream(
                method, url, json=json_body, headers=headers, timeout=self._timeout(deadline)
            ) as response:
                if response.status_code >= 300:
                    raise self._status_error(response, method, url, deadline)
                yield response
        except (EndpointError, _Retryable):
            raise
        except Exception as exc:
            raise self._transport_error(exc, method, url, deadline, streaming=False) from None

    def _read(
        self, response: httpx.Response, method: str, url: str, deadline: Deadline, *, limit: int
    ) -> bytes:
        try:
            return read_body(response, limit=limit, on_chunk=self._on_chunk(deadline, method, url))
        except BodyLimitError as exc:
            raise EndpointError(f"{exc} from {method} {url}: stopped reading") from None

    def _on_chunk(self, deadline: Deadline, method: str, url: str) -> Callable[[], None]:
        """Runs after every network read: the deadline holds whatever the server sends."""

        def check() -> None:
            self._last_data = time.monotonic()
            if requests_cancelled():
                raise EndpointError(f"interrupted during {method} {url}")
            if deadline.remaining() <= 0:
                raise EndpointError(
                    f"smoke run exceeded its {deadline.seconds:g} s timeout during {method} {url} "
                    "(the server kept the stream open without finishing the answer)"
                )

        return check

    def _scrubbed(self, result: StreamedCompletion) -> StreamedCompletion:
        """The completion with the key removed from every text a server produced."""
        result.text = self.redact(result.text)
        result.reasoning = self.redact(result.reasoning)
        for call in result.tool_calls:
            call.name, call.arguments = self.redact(call.name), self.redact(call.arguments)
        return result

    def _with_retries(self, attempt: Callable[[], Any], method: str, url: str, deadline: Deadline):
        tries = 0
        while True:
            tries += 1
            deadline.check()
            if requests_cancelled():
                raise EndpointError(f"interrupted before {method} {url}")
            try:
                return attempt()
            except _Retryable as failure:
                if tries > self.policy.retries:
                    raise EndpointError(
                        f"{failure.message} after {tries} attempts", status=failure.status
                    ) from None
                delay = self._delay(tries, failure.retry_after_s)
                if delay >= deadline.remaining():
                    raise EndpointError(
                        f"{failure.message}; next retry in {delay:.1f} s would pass the "
                        f"{deadline.seconds:g} s smoke timeout (after {tries} attempts)",
                        status=failure.status,
                    ) from None
                log.info(
                    "%s; retry %d/%d in %.2f s", failure.message, tries, self.policy.retries, delay
                )
                self._sleep(delay)

    def _delay(self, tries: int, retry_after_s: float | None) -> float:
        """Retry-After when the server gave one (capped), else exponential backoff with jitter."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.policy.max_retry_after_s)
        base = self.policy.backoff_s * (2 ** (tries - 1))
        return base * (0.5 + self._jitter())

    def _status_error(
        self, response: httpx.Response, method: str, url: str, deadline: Deadline
    ) -> Exception:
        status = response.status_code
        if status < 400:
            where = display_url(response.headers.get("location", "")) or "nowhere"
            return EndpointError(
                f"HTTP {status} redirect from {method} {url} to {one_line(where, 200)}: selector "
                "does not follow redirects; use the address it points to as base_url",
                status=status,
            )
        message = f"HTTP {status} from {method} {url}"
        try:
            body = read_body(
                response,
                limit=ERROR_BODY_LIMIT,
                on_chunk=self._on_chunk(deadline, method, url),
                truncate=True,
            )
        except (BodyLimitError, EndpointError):
            body = b""
        except Exception:  # the connection broke while we read the reason: the status says enough
            body = b""
        detail = _error_detail(body, self.redact)
        if detail:
            message += f": {detail}"
        if status in RETRY_STATUSES:
            return _Retryable(message, status=status, retry_after_s=_retry_after(response.headers))
        if status in (401, 403):
            hint = (
                f"check the key in ${self.api_key_env}"
                if self.api_key_env
                else "the server wants an API key: set api_key_env / --api-key-env"
            )
            message += f" ({hint})"
        elif status == 404 and not self.base_url.endswith("/v1"):
            message += f" (base URL usually ends in /v1: {self.base_url}/v1?)"
        return EndpointError(message, status=status)

    def _transport_error(
        self,
        exc: Exception,
        method: str,
        url: str,
        deadline: Deadline,
        *,
        streaming: bool,
    ) -> Exception:
        """Name the failure the way an operator would: refused, hung, reset, truncated."""
        import httpx

        if isinstance(exc, (EndpointError, _Retryable)):
            return exc
        if requests_cancelled():
            return EndpointError(f"interrupted during {method} {url}")
        text = one_line(self.redact(str(exc)), 300) or type(exc).__name__
        if isinstance(exc, httpx.ConnectTimeout):
            return EndpointError(
                f"no connection to {self.base_url} within {self.policy.connect_timeout_s:g} s"
            )
        if isinstance(exc, httpx.ConnectError):
            if "refused" in text.lower():
                return EndpointError(f"connection refused to {self.base_url}")
            return EndpointError(f"cannot connect to {self.base_url}: {text}")
        if isinstance(exc, httpx.TimeoutException):
            idle = time.monotonic() - self._last_data
            if streaming and idle < 1.0 and deadline.remaining() <= 0.05:
                return EndpointError(
                    f"smoke run exceeded its {deadline.seconds:g} s timeout during {method} {url} "
                    "(the server kept the stream open without finishing the answer)"
                )
            waited = _seconds(self.policy.timeout_s if deadline.remaining() > 0.05 else idle)
            what = "no data" if streaming else "no response"
            hung = "stream hung" if streaming else "server hung"
            message = f"{what} for {waited} s ({hung}) from {method} {url}"
            if deadline.remaining() <= 0.05:
                message += f", at the smoke run's {deadline.seconds:g} s timeout"
            return EndpointError(message)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            if streaming:
                return EndpointError(
                    f"stream ended before [DONE] (connection closed mid-stream: {text}) "
                    f"from {method} {url}"
                )
            return _Retryable(
                f"connection reset by {self.base_url} ({text})", status=None, retry_after_s=None
            )
        if isinstance(exc, httpx.HTTPError):
            return EndpointError(f"{type(exc).__name__} from {method} {url}: {text}")
        return EndpointError(f"unexpected {type(exc).__name__} from {method} {url}: {text}")


def _error_detail(body: bytes, redact: Callable[[str], str]) -> str:
    """The server's own one-line reason (OpenAI `error.message`, FastAPI `detail`), the key
    removed before the text is cut to 200 characters."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            text = str(error.get("message") or error)
        elif error:
            text = str(error)
        elif data.get("detail"):
            text = str(data["detail"])
        elif data.get("message"):
            text = str(data["message"])
    return one_line(redact(text), 200)


def _seconds(value: float) -> str:
    """A wait as people say it: 120, 2.5, 1 (not 1.01 for a timer that fired a bit late)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a Retry-After header, in either of its two forms; None when unusable
    (`nan`, `inf`, negative, or a date that is not one)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except Exception:  # a date email.utils cannot read, or out of range
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
