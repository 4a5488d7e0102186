"""Probe suite v2 as data: probe records naming registered checkers, loaded from TOML files.

The built-in suite is one TOML file per capability under selector/smoke/suites/; a team's own
probe files (`[smoke] suites`, `selector smoke --suite`) use the same format and the same
loader, so a bad file of either kind is one line naming the file, the probe and the field.
A probe carries a chat rendering (`prompt` or `messages`, for instruct weights) and may carry
a few-shot `completion_prompt` (for base weights). Changing a built-in prompt, checker or
argument changes what a pass means: bump SUITE_VERSION. A run's suite is identified by its
`digest()` (the version plus the content of every probe it runs), part of the cache key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from selector.errors import InputError

SUITE_VERSION = "2"

# Capabilities whose probes always run, whatever `[use_case] needs` says.
ALWAYS_ON = ("instruction-following", "structured-output")
# Every capability the built-in suite probes, in report order (vision cannot be probed here).
BUILTIN_CAPABILITIES = (
    "instruction-following",
    "structured-output",
    "tool-calling",
    "reasoning",
    "code",
    "multilingual",
    "long-context",
)
_NAME = r"^[a-z0-9][a-z0-9._-]*$"


class ProbeFileError(InputError):
    """A probe file that cannot be used (exit 2), phrased `file:line: probe 'id': field: what`."""


class _Data(BaseModel):
    # defer_build: a run without smoke tests names SuitePlan in its settings but parses no probe
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ChatMessage(_Data):
    role: Literal["system", "user", "assistant"]
    content: str


class ToolFunction(_Data):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolSpec(_Data):
    """One OpenAI `tools` entry."""

    type: Literal["function"] = "function"
    function: ToolFunction


class Followup(_Data):
    """The second turn of an agent loop: what the called tool returns, and how the model's
    final answer (which must use that result) is judged."""

    result: Any = Field(description="the tool's JSON result")
    checker: str
    args: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int | None = Field(None, gt=0)


class Document(_Data):
    """A long document generated at the run's context length: `filler` sentences repeated
    around `facts` planted at evenly spaced depths (the probes ask about the facts)."""

    filler: list[str] = Field(min_length=1)
    facts: list[str] = Field(min_length=1)


class Probe(_Data):
    """One task: how to ask it, for instruct and base weights, and which checker judges it."""

    id: str = Field(pattern=_NAME)
    capability: str = Field(pattern=_NAME)
    purpose: str = ""
    prompt: str | None = Field(None, description="a single user turn")
    messages: list[ChatMessage] | None = None
    completion_prompt: str | None = Field(None, description="few-shot prompt for base weights")
    completion_prefix: str = Field(
        "", description="the start of the answer a few-shot prompt already wrote (`def f(x):`)"
    )
    stop: list[str] = Field(default_factory=lambda: ["\n"], description="base weights only")
    tools: list[ToolSpec] = Field(default_factory=list)
    checker: str
    args: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int | None = Field(None, gt=0, description="answer budget; default: settings")
    followup: Followup | None = None
    document: Document | None = None
    source: str = "builtin"

    @model_validator(mode="after")
    def _coherent(self) -> Probe:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        if self.messages is not None and (not self.messages or self.messages[-1].role != "user"):
            raise ValueError("`messages` must end with a user turn")
        if self.followup is not None and not self.tools:
            raise ValueError("`followup` (an agent loop) needs `tools`")
        return self

    def chat_messages(self) -> list[dict[str, str]]:
        if self.messages is not None:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    def base_prompt(self) -> str:
        """The few-shot prompt, else the chat turn laid out as a completion (zero-shot)."""
        if self.completion_prompt is not None:
            return self.completion_prompt
        text = "\n\n".join(m["content"] for m in self.chat_messages())
        return f"{text}\n\nAnswer:"

    def tool_dicts(self) -> list[dict[str, Any]]:
        return [t.model_dump() for t in self.tools]


def _problem(probe: Probe) -> tuple[tuple[str | int, ...], str] | None:
    """The first problem with the probe's checkers and their arguments: (where, what)."""
    # the checkers (and their argument models) load when a probe file is parsed, not with
    # the probe records a catalog-only run's settings and reports name
    from selector.smoke.checkers import UnknownCheckerError, get_checker, validate_args

    checks: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [((), probe.checker, probe.args)]
    if probe.followup is not None:
        checks.append((("followup",), probe.followup.checker, probe.followup.args))
    for where, name, args in checks:
        try:
            validate_args(name, args)
        except UnknownCheckerError as exc:
            return ((*where, "checker"), str(exc))
        except ValidationError as exc:
            err = _first_error(exc)
            fields = list(get_checker(name).args.model_fields)
            return ((*where, "args", *err["loc"]), _describe(err, fields))
    return None


def _first_error(exc: ValidationError) -> Any:
    """An unknown key first (a misspelling also makes the right key 'missing')."""
    errors = exc.errors(include_url=False)
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def _describe(err: Any, fields: Sequence[str]) -> str:
    from selector.tomlio import did_you_mean

    if err["type"] == "extra_forbidden":
        return "unknown key" + did_you_mean(str(err["loc"][-1]), fields)
    if err["type"] == "missing":
        return "required"
    return str(err["msg"]).removeprefix("Value error, ")


def _expand_tools(tools: Any, named: dict[str, Any], fail: Callable[[str], ProbeFileError]) -> Any:
    """Tool names refer to the file's `[tools.<name>]` tables; full tables pass through."""
    if not isinstance(tools, list):
        return tools
    out = []
    for tool in tools:
        if isinstance(tool, str):
            if tool not in named:
                known = ", ".join(sorted(named)) or "none"
                raise fail(f"unknown tool {tool!r} (the file's [tools] define: {known})")
            out.append({"type": "function", "function": {"name": tool, **named[tool]}})
        else:
            out.append(tool)
    return out


def parse_probe_file(
    data: dict[str, Any], path: Path, text: str = "", *, source: str | None = None
) -> tuple[Probe, ...]:
    """Probes from a parsed probe file; ProbeFileError names the file, probe and field."""
    from selector.tomlio import locate

    def fail(loc: tuple[str | int, ...], probe_id: str | None, message: str) -> ProbeFileError:
        line = locate(text, loc) if text else None
        where = f"{path}:{line}" if line else str(path)
        who = f" probe {probe_id!r}:" if probe_id else ""
        field = ".".join(str(p) for p in loc[2:]) if len(loc) > 2 else ""
        return ProbeFileError(f"{where}:{who} {field + ': ' if field else ''}{message}")

    unknown = sorted(set(data) - {"capability", "probe", "document", "tools"})
    if unknown:
        raise fail((unknown[0],), None, f"unknown top-level key {unknown[0]!r}")
    entries = data.get("probe")
    if not isinstance(entries, list) or not entries:
        raise fail(("probe",), None, "no [[probe]] entries")
    document = data.get("document")
    named_tools = data.get("tools", {})
    if not isinstance(named_tools, dict) or not all(
        isinstance(v, dict) for v in named_tools.values()
    ):
        raise fail(("tools",), None, "[tools] must hold one table per tool name")
    probes: list[Probe] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise fail(("probe", i), None, "each probe must be a table")
        probe_id = str(entry.get("id") or f"#{i + 1}")
        record = dict(entry)
        if "capability" in data:
            record.setdefault("capability", data["capability"])
        record["source"] = source or path.name
        if record.get("document") is True:
            if document is None:
                raise fail(("probe", i, "document"), probe_id, "the file has no [document]")
            record["document"] = document
        elif record.get("document") is False:
            record.pop("document")
        if "tools" in record:

            def tool_error(msg: str, i: int = i, pid: str = probe_id) -> ProbeFileError:
                return fail(("probe", i, "tools"), pid, msg)

            record["tools"] = _expand_tools(record["tools"], named_tools, tool_error)
        try:
            probe = Probe.model_validate(record)
        except ValidationError as exc:
            err = _first_error(exc)
            fields = [f for f in Probe.model_fields if f != "source"]
            raise fail(("probe", i, *err["loc"]), probe_id, _describe(err, fields)) from None
        problem = _problem(probe)
        if problem is not None:
            raise fail(("probe", i, *problem[0]), probe_id, problem[1])
        if probe.id in seen:
            raise fail(("probe", i, "id"), probe_id, "duplicate probe id in this file")
        seen.add(probe.id)
        probes.append(probe)
    return tuple(probes)


def load_probe_file(path: Path) -> tuple[Probe, ...]:
    """A team's probe file (TOML); every problem is a one-line ProbeFileError."""
    from selector.tomlio import read_toml

    data, text = read_toml(Path(path), ProbeFileError)
    return parse_probe_file(data, Path(path), text)


def load_probe_files(paths: Iterable[Path]) -> tuple[Probe, ...]:
    """Several files; a probe id used twice across them is an error naming both files."""
    out: list[Probe] = []
    where: dict[str, str] = {}
    for path in paths:
        for probe in load_probe_file(path):
            if probe.id in where:
                raise ProbeFileError(
                    f"{path}: probe {probe.id!r}: id: already defined in {where[probe.id]}"
                )
            if probe.id in {p.id for p in builtin_probes()}:
                raise ProbeFileError(
                    f"{path}: probe {probe.id!r}: id: the built-in suite has a probe of that name"
                )
            where[probe.id] = str(path)
            out.append(probe)
    return tuple(out)


def builtin_suite_text(capability: str) -> tuple[Path, str]:
    """Where the built-in probe file of `capability` lives, and its text."""
    entry = resources.files("selector.smoke") / "suites" / f"{capability}.toml"
    return Path(str(entry)), entry.read_text(encoding="utf-8")


@cache
def builtin_probes() -> tuple[Probe, ...]:
    """The built-in suite, one file per capability, in BUILTIN_CAPABILITIES order."""
    from selector.tomlio import tomllib

    out: list[Probe] = []
    for capability in BUILTIN_CAPABILITIES:
        entry, text = builtin_suite_text(capability)
        probes = parse_probe_file(tomllib.loads(text), entry, text, source="builtin")
        if any(p.capability != capability for p in probes):
            raise ValueError(f"{entry}: a probe names another capability")
        out += probes
    ids = [p.id for p in out]
    if len(set(ids)) != len(ids):
        raise ValueError("built-in probe ids are not unique")
    return tuple(out)


class SuitePlan(_Data):
    """Which probes a run asks: built-in capabilities (None: all), a team's own probes, and
    the context length the long-context probes aim for (None: what the smoke context holds)."""

    capabilities: tuple[str, ...] | None = None
    extra: tuple[Probe, ...] = ()
    context_tokens: int | None = Field(None, gt=0)
    sources: tuple[str, ...] = Field((), description="the team's probe files, as given")

    def probes(self) -> tuple[Probe, ...]:
        wanted = self.capabilities
        chosen = [p for p in builtin_probes() if wanted is None or p.capability in wanted]
        return (*chosen, *self.extra)

    def gated(self) -> tuple[str, ...]:
        """The capabilities this run tests, in report order: each must pass."""
        seen = dict.fromkeys(p.capability for p in self.probes())
        return tuple(seen)

    def digest(self) -> str:
        """SUITE_VERSION plus a hash of every probe the run asks and the target context."""
        body = json.dumps(
            {
                "probes": [p.model_dump(mode="json", exclude={"source"}) for p in self.probes()],
                "context_tokens": self.context_tokens,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return f"{SUITE_VERSION}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def wanted_capabilities(needs: Sequence[str]) -> tuple[str, ...]:
    """The built-in capabilities a run probes: the always-on ones and the needed ones."""
    return tuple(c for c in BUILTIN_CAPABILITIES if c in ALWAYS_ON or c in needs)


def plan_for(
    needs: Sequence[str],
    *,
    suites: Sequence[Path] = (),
    context_tokens: int | None = None,
) -> SuitePlan:
    """The suite a requirements file asks for: the always-on capabilities, the needed ones
    that the built-in suite can probe, and the team's own probe files."""
    return SuitePlan(
        capabilities=wanted_capabilities(needs),
        extra=load_probe_files(suites),
        context_tokens=context_tokens,
        sources=tuple(str(s) for s in suites),
    )


def unprobed(needs: Sequence[str]) -> list[str]:
    """Needed capabilities no probe of the built-in suite can check here (vision)."""
    return [n for n in needs if n not in BUILTIN_CAPABILITIES]


# ---------------------------------------------------------------- the long-context document

CHARS_PER_TOKEN = 4.0  # English prose in the BPE tokenizers of current LLMs: about 4 to 4.5


def build_document(doc: Document, target_tokens: int) -> str:
    """`doc` at about `target_tokens` tokens: numbered filler paragraphs, each fact planted at
    an even depth. Deterministic: the same length gives the same text on every backend."""
    budget = max(int(target_tokens * CHARS_PER_TOKEN), 200)
    facts_len = sum(len(f) + 1 for f in doc.facts)
    paragraphs: list[str] = []
    size, i = 0, 0
    while size < budget - facts_len:
        sentence = doc.filler[i % len(doc.filler)]
        para = f"{i + 1}. {sentence}"
        paragraphs.append(para)
        size += len(para) + 1
        i += 1
    n = len(doc.facts)
    for k, fact in reversed(list(enumerate(doc.facts))):
        at = round(len(paragraphs) * (k + 1) / (n + 1))
        paragraphs.insert(at, fact)
    return "\n".join(paragraphs)


def with_document(probe: Probe, document: str) -> Probe:
    """The probe with `{document}` in its prompts replaced by `document`."""

    def fill(text: str | None) -> str | None:
        return None if text is None else text.replace("{document}", document)

    update: dict[str, Any] = {
        "prompt": fill(probe.prompt),
        "completion_prompt": fill(probe.completion_prompt),
    }
    if probe.messages is not None:
        update["messages"] = [
            m.model_copy(update={"content": fill(m.content)}) for m in probe.messages
        ]
    return probe.model_copy(update=update)


# -------------------------------------------------------------------------- the speed prompt

# The timed prefill of both backends' speed runs (about 250 tokens with a Gemma tokenizer):
# a facilities note and few-shot questions. Kept verbatim from suite v1, so speed figures
# stay comparable across suite versions.
_SPEED_CONTEXT = (
    "Facilities notes, building C. The east stairwell is closed for painting until Friday; use "
    "the west stairwell instead. Visitors sign in at the ground-floor desk and wear a badge at "
    "all times. The kitchen on the third floor has a new coffee machine; descale it every "
    "Monday. The access code for the storage room is 4817. Printers on the second floor are "
    "serviced by the vendor every other Tuesday, and paper is kept in the cabinet next to them. "
    "Parking spaces 12 to 20 are reserved for car sharing. The fire drill is planned for the "
    "first week of next month, and wardens will wear orange vests."
)
SPEED_PROMPT = (
    f"{_SPEED_CONTEXT}\n\n"
    "Q: Which stairwell should be used until Friday?\nA: the west stairwell\n"
    "Q: Which parking spaces are reserved for car sharing?\nA: spaces 12 to 20\n"
    "Q: What is the access code for the storage room?\nA:"
)


def tool_prompt_preamble(tools: Sequence[ToolSpec]) -> str:
    """The tools described in text, for a backend that cannot take an OpenAI `tools` list (or
    a chat template that drops it)."""
    lines = []
    for tool in tools:
        fn = tool.function
        params = json.dumps(fn.parameters, separators=(",", ":"))
        lines.append(f"- {fn.name}: {fn.description} Parameters (JSON Schema): {params}")
    return (
        "You can call these functions:\n"
        + "\n".join(lines)
        + '\nTo call one, reply with only a JSON object: {"name": "<function>", "arguments": '
        "{...}}.\n\n"
    )
