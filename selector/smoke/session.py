"""The one seam between the probe-suite driver and a backend: a prompt in, an answer out.

A backend (llama.cpp inside the smoke child, an OpenAI-compatible server over HTTP) only turns
a `PromptRequest` (chat messages or a raw prompt, optional tools, budget and sampling) into a
`Generation` (text, reasoning, tool calls, finish reason, token counts, time). Everything else
(which prompt a probe sends, thinking, tool fallbacks, agent turns, verdicts) lives once in
selector/smoke/suite.py, like lm-eval's `LM` interface or simonw/llm's `Model.execute`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from selector.smoke.answers import ToolCall

Message = Mapping[str, Any]


@dataclass(frozen=True)
class PromptRequest:
    """One generation to run: chat `messages` (instruct weights) or a raw `prompt` (base)."""

    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    max_tokens: int = 128
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def chat(self) -> bool:
        return self.prompt is None


@dataclass(frozen=True)
class Generation:
    """What came back: the answer text, any reasoning set apart by the API, and tool calls."""

    text: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0
    note: str = ""  # a backend's remark on the answer (tool arguments that were not JSON, say)


class PromptRefused(Exception):
    """The backend could not run this prompt (longer than the context, a chat template that
    rejects a role, HTTP 400/413/422): the probe errors, the suite goes on.

    `prompt_tokens` and `limit` are set when the backend knows them, so the driver can shrink a
    generated document to fit.
    """

    def __init__(
        self, message: str, *, prompt_tokens: int | None = None, limit: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.prompt_tokens = prompt_tokens
        self.limit = limit


class ToolsRefused(PromptRefused):
    """The backend refused the `tools` list itself; the driver asks again with tools in text."""


class ProbeSession(Protocol):
    """A loaded model that answers prompts. Any exception other than PromptRefused ends the run
    (a dead server, a crashed context): the backend reports it as the run's error."""

    @property
    def context_limit(self) -> int | None:
        """Tokens the model's context holds, where the backend knows it (None: unknown)."""
        ...

    def generate(self, request: PromptRequest) -> Generation:
        """Run one request to its end (stop, budget, or a tool call)."""
        ...


_LIMITS = (
    # llama-cpp-python (local): "Requested tokens (2300) exceed context window of 2048"
    re.compile(r"Requested tokens \((?P<prompt>\d+)\) exceed context window of (?P<limit>\d+)"),
    # OpenAI-style servers (vLLM, llama_cpp.server): "This model's maximum context length is
    # 2048 tokens. However, you requested 2400 tokens (2300 in the messages, 100 in the ...)"
    re.compile(
        r"maximum context length is (?P<limit>\d+) tokens.*?\((?P<prompt>\d+) in the "
        r"(?:messages|prompt)",
        re.DOTALL,
    ),
)


def context_numbers(message: str) -> tuple[int | None, int | None]:
    """(prompt tokens, context limit) from a backend's context-overflow message, if it says."""
    for pattern in _LIMITS:
        found = pattern.search(message)
        if found:
            return int(found.group("prompt")), int(found.group("limit"))
    return None, None
