"""Reads an OpenAI-style server-sent-event stream into text, tool calls, usage and token times."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DONE_MARKER = "[DONE]"
EVENT_LIMIT = 2**20  # characters of one event's data: past this the stream is refused
MAX_COUNT = 10**8  # a token count above this is not one (a server's `usage` of 400 digits)


class StreamError(Exception):
    """The stream broke the protocol: bad JSON, an error event, or an early end."""


@dataclass
class StreamedToolCall:
    """One tool call assembled from its streamed pieces (arguments arrive as string fragments)."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""

    def parsed_arguments(self) -> dict[str, Any] | None:
        """The arguments as a JSON object, or None when the model wrote something else."""
        try:
            value = json.loads(self.arguments) if self.arguments.strip() else {}
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class StreamedCompletion:
    """Everything one streamed completion produced, with the clock times of its tokens."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[StreamedToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    token_deltas: int = 0
    chunks: int = 0
    saw_done: bool = False
    sent_at: float = 0.0
    first_token_at: float | None = None
    last_token_at: float | None = None

    @property
    def completion_tokens(self) -> tuple[int, str]:
        """Generated tokens and where the figure comes from ('server usage' or 'counted deltas')."""
        count = _count(self.usage, "completion_tokens")
        if count is not None:
            return count, "server usage"
        return self.token_deltas, "counted deltas"

    @property
    def prompt_tokens(self) -> int | None:
        return _count(self.usage, "prompt_tokens")


def _count(usage: dict[str, Any] | None, key: str) -> int | None:
    """A token count from the server's `usage`, if it is a plausible one."""
    value = usage.get(key) if usage else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def iter_sse_data(
    lines: Iterable[str], redact: Callable[[str], str] | None = None
) -> Iterable[str]:
    """Yield the `data` payload of each event; comments (pings) and other fields are skipped.

    Multi-line `data:` fields of one event are joined with newlines, as the SSE spec says; an
    event whose data passes EVENT_LIMIT characters is refused, not kept growing.
    """
    pending: list[str] = []
    size = 0
    for raw_line in lines:
        line = raw_line.rstrip("\r\n")
        if not line:
            if pending:
                yield "\n".join(pending)
                pending, size = [], 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            size += len(value) + 1
            if size > EVENT_LIMIT:
                raise StreamError(f"an event longer than {EVENT_LIMIT // 2**10} KiB in stream")
            pending.append(value)
        elif name == "error":  # llama-server style `error: {...}` line
            raise StreamError(f"server sent an error event: {_short(value, redact=redact)}")
    if pending:
        yield "\n".join(pending)


def read_stream(
    lines: Iterable[str],
    *,
    chat: bool,
    clock: Callable[[], float] = time.perf_counter,
    on_event: Callable[[], None] | None = None,
    redact: Callable[[str], str] | None = None,
) -> StreamedCompletion:
    """Fold a chat (`delta`) or text-completion (`text`) stream into one StreamedCompletion.

    Raises StreamError for malformed JSON, an `error` object in the stream, or a stream that
    ends before `[DONE]` without a finish reason (a truncated stream). `on_event` runs after
    every event; the HTTP layer also checks its deadline on every read, so comments, blank
    lines and trickled bytes cannot outlast it. `redact` removes a secret from every message
    before it is cut to display length.
    """
    out = StreamedCompletion()
    calls: dict[int, StreamedToolCall] = {}
    for payload in iter_sse_data(lines, redact):
        if payload.strip() == DONE_MARKER:
            out.saw_done = True
            break
        try:
            chunk = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # a 5000-digit number is a ValueError
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            shown = _short(payload, redact=redact)
            raise StreamError(f"malformed JSON in stream: {shown} ({why})") from None
        if not isinstance(chunk, dict):
            shown = _short(payload, redact=redact)
            raise StreamError(f"malformed chunk in stream (not an object): {shown}")
        if chunk.get("error"):
            raise StreamError(f"server error in stream: {_error_text(chunk['error'], redact)}")
        out.chunks += 1
        if isinstance(chunk.get("usage"), dict):
            out.usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if _fold_choice(out, calls, choice, chat=chat, redact=redact):
                now = clock()
                if out.first_token_at is None:
                    out.first_token_at = now
                out.last_token_at = now
                out.token_deltas += 1
            if choice.get("finish_reason"):
                out.finish_reason = _short(str(choice["finish_reason"]), 40)
        if on_event is not None:
            on_event()
    out.tool_calls = [calls[i] for i in sorted(calls)]
    if not out.saw_done and out.finish_reason is None:
        raise StreamError(f"stream ended before [DONE] (after {out.chunks} chunks)")
    return out


def _fold_choice(
    out: StreamedCompletion,
    calls: dict[int, StreamedToolCall],
    choice: dict[str, Any],
    *,
    chat: bool,
    redact: Callable[[str], str] | None = None,
) -> bool:
    """Add one choice's delta to `out`; True when it carried a generated token.

    An empty string still counts when it is not the role announcement or the closing chunk:
    llama.cpp servers send one chunk per token and hold back the bytes of an incomplete UTF-8
    character, so the chunk is a token even though its text is empty.
    """
    closing = bool(choice.get("finish_reason"))
    if not chat:
        text = choice.get("text")
        if isinstance(text, str):
            out.text += text
            return bool(text) or not closing
        return False
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):  # named by its type: a nested value may be huge or deep
        raise StreamError(f"malformed delta in stream (a {type(delta).__name__}, not an object)")
    produced = False
    content = delta.get("content")
    if isinstance(content, str):
        out.text += content
        produced = bool(content) or not (closing or "role" in delta)
    for key in ("reasoning_content", "reasoning"):
        thought = delta.get(key)
        if isinstance(thought, str) and thought:
            out.reasoning += thought
            produced = True
            break
    pieces = delta.get("tool_calls") or []
    for piece in pieces if isinstance(pieces, list) else []:
        if not isinstance(piece, dict):
            continue
        index = piece.get("index", len(calls))
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 1024:
            raise StreamError(f"malformed tool call index in stream: {_short(str(index))}")
        call = calls.setdefault(index, StreamedToolCall(index=index))
        if piece.get("id"):
            call.id = str(piece["id"])
        function = piece.get("function") or {}
        if not isinstance(function, dict):
            continue
        if function.get("name"):
            call.name += str(function["name"])
        if isinstance(function.get("arguments"), str):
            call.arguments += function["arguments"]
        produced = True
    return produced


def _error_text(error: object, redact: Callable[[str], str] | None = None) -> str:
    if isinstance(error, dict):
        return _short(str(error.get("message") or error), redact=redact)
    return _short(str(error), redact=redact)


def _short(text: str, limit: int = 120, redact: Callable[[str], str] | None = None) -> str:
    """One line of at most `limit` characters, the secret removed first (a cut first would
    leave most of it behind)."""
    if redact is not None:
        text = redact(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
