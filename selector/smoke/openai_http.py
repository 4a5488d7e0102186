"""HTTP side of the endpoint backend: streaming requests, timeouts, retries, API-key hygiene."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from selector.smoke.sse import StreamedCompletion, StreamError, read_stream

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDACTED = "[redacted]"


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
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._client: httpx.Client | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> OpenAIHttp:
        import httpx

        self._client = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout_s, connect=self.policy.connect_timeout_s),
            follow_redirects=False,
        )
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
            secret = os.environ.get(self.api_key_env)
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream, application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- requests --------------------------------------------------------------------------
    def list_models(self, deadline: Deadline) -> list[str]:
        """The ids GET /models lists; EndpointError when the server cannot be reached or refuses."""
        url = f"{self.base_url}/models"

        def attempt() -> list[str]:
            client = self._require_client()
            timeout = self._timeout(deadline)
            try:
                response = client.get(url, headers=self._headers(), timeout=timeout)
            except Exception as exc:
                raise self._transport_error(
                    exc, "GET", url, deadline, timeout.read, streaming=False
                ) from None
            if response.status_code >= 400:
                raise self._status_error(response, "GET", url)
            try:
                data = response.json()
            except (json.JSONDecodeError, ValueError):
                raise EndpointError(f"malformed JSON from GET {url}") from None
            items = data.get("data") if isinstance(data, dict) else None
            return [str(m.get("id")) for m in items or [] if isinstance(m, dict) and m.get("id")]

        return self._with_retries(attempt, "GET", url, deadline)

    def stream(
        self, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline
    ) -> StreamedCompletion:
        """POST `body` with `stream: true` and read the whole event stream, retrying 429/5xx."""
        url = f"{self.base_url}{path}"

        def attempt() -> StreamedCompletion:
            client = self._require_client()
            headers = self._headers()
            timeout = self._timeout(deadline)
            sent_at = time.perf_counter()
            try:
                with client.stream(
                    "POST", url, json=body, headers=headers, timeout=timeout
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise self._status_error(response, "POST", url)
                    try:
                        result = read_stream(
                            response.iter_lines(), chat=chat, on_event=deadline.check
                        )
                    except StreamError as exc:
                        raise EndpointError(f"{self.redact(str(exc))} from POST {url}") from None
                    except Exception as exc:
                        raise self._transport_error(
                            exc, "POST", url, deadline, timeout.read, streaming=True
                        ) from None
            except (EndpointError, _Retryable):
                raise
            except Exception as exc:
                raise self._transport_error(
                    exc, "POST", url, deadline, timeout.read, streaming=False
                ) from None
            result.sent_at = sent_at
            return result

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

    def _with_retries(self, attempt: Callable[[], Any], method: str, url: str, deadline: Deadline):
        tries = 0
        while True:
            tries += 1
            deadline.check()
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

    def _status_error(self, response: httpx.Response, method: str, url: str) -> Exception:
        status = response.status_code
        message = f"HTTP {status} from {method} {url}"
        detail = self.redact(_error_detail(response))
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
        waited_s: float | None,
        *,
        streaming: bool,
    ) -> Exception:
        """Name the failure the way an operator would: refused, hung, reset, truncated."""
        import httpx

        if isinstance(exc, (EndpointError, _Retryable)):
            return exc
        text = self.redact(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.ConnectTimeout):
            return EndpointError(
                f"no connection to {self.base_url} within {self.policy.connect_timeout_s:g} s"
            )
        if isinstance(exc, httpx.ConnectError):
            if "refused" in text.lower():
                return EndpointError(f"connection refused to {self.base_url}")
            return EndpointError(f"cannot connect to {self.base_url}: {text}")
        if isinstance(exc, httpx.TimeoutException):
            waited = f"{waited_s if waited_s is not None else self.policy.timeout_s:.3g}"
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


def _error_detail(response: httpx.Response) -> str:
    """The server's own one-line reason (OpenAI `error.message`, FastAPI `detail`), shortened."""
    try:
        data = response.json()
    except (json.JSONDecodeError, ValueError, UnicodeDecodeError):
        data = None
    text = ""
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
    if not text:
        try:
            text = response.text
        except Exception:
            text = ""
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a Retry-After header, in either of its two forms."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
