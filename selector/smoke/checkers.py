"""The deterministic checkers probes name, the arguments each takes, and the response they read.

A checker is a pure function of a `ProbeResponse` (the answer text plus any tool calls) and its
validated arguments, returning a `Verdict`. Each is registered under a name with a pydantic
model of its arguments, so a probe file that misspells an argument or gives a bad regex fails
when it is loaded, naming the field. Nothing a model writes is ever executed: code answers are
parsed with `ast`, JSON with the json module and checked with `jsonschema`.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from selector.errors import InputError
from selector.smoke.answers import (
    TRIM,
    ProbeResponse,
    ToolCall,
    first_line,
    json_values,
    mismatches,
    parse_tool_calls,
    tool_calls_of,
)

__all__ = ["ProbeResponse", "ToolCall", "parse_tool_calls", "tool_calls_of"]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str


class CheckerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CheckFn = Callable[[ProbeResponse, Any], Verdict]


@dataclass(frozen=True)
class Checker:
    name: str
    args: type[CheckerArgs]
    fn: CheckFn
    doc: str


CHECKERS: dict[str, Checker] = {}


class UnknownCheckerError(InputError):
    """A probe names a checker that is not registered."""


def checker(name: str, args: type[CheckerArgs]) -> Callable[[CheckFn], CheckFn]:
    """Register a checker under `name` with the pydantic model of its arguments."""

    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKERS:
            raise ValueError(f"checker {name!r} registered twice")
        CHECKERS[name] = Checker(name, args, fn, (fn.__doc__ or "").strip())
        return fn

    return register


def get_checker(name: str) -> Checker:
    try:
        return CHECKERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(CHECKERS), n=1, cutoff=0.5)
        hint = f" Did you mean: {close[0]}?" if close else ""
        available = ", ".join(sorted(CHECKERS))
        raise UnknownCheckerError(
            f"Unknown checker {name!r}.{hint} Available: {available}"
        ) from None


def validate_args(name: str, args: Mapping[str, Any]) -> CheckerArgs:
    """The checker's arguments as its model; ValidationError names the bad field."""
    return get_checker(name).args.model_validate(dict(args))


def run_checker(name: str, args: Mapping[str, Any], response: ProbeResponse) -> Verdict:
    spec = get_checker(name)
    return spec.fn(response, spec.args.model_validate(dict(args)))


def _values(one: str | None, many: list[str]) -> list[str]:
    return ([one] if one is not None else []) + list(many)


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# ---------------------------------------------------------------------------- the checkers


class ExactArgs(CheckerArgs):
    value: str
    ignore_case: bool = False
    trim: bool = Field(True, description="strip quotes, backticks, asterisks and a final period")


@checker("exact", ExactArgs)
def _exact(response: ProbeResponse, args: ExactArgs) -> Verdict:
    """The whole answer is `value` (surrounding space aside; with `trim`, quotes and a period)."""
    got = response.text.strip(TRIM) if args.trim else response.text.strip()
    want = args.value
    same = got.casefold() == want.casefold() if args.ignore_case else got == want
    if same:
        return Verdict(True, f"answered {want!r}")
    return Verdict(False, f"answered {_short(got)}, expected {want!r}")


class ContainsArgs(CheckerArgs):
    value: str | None = None
    values: list[str] = Field(default_factory=list, description="every one must appear")
    ignore_case: bool = True

    @model_validator(mode="after")
    def _some(self) -> ContainsArgs:
        if not _values(self.value, self.values):
            raise ValueError("give `value` or `values`")
        return self


def _find(text: str, needles: list[str], ignore_case: bool) -> list[str]:
    hay = text.casefold() if ignore_case else text
    return [n for n in needles if (n.casefold() if ignore_case else n) in hay]


@checker("contains", ContainsArgs)
def _contains(response: ProbeResponse, args: ContainsArgs) -> Verdict:
    """Every one of `value` / `values` appears in the answer (case ignored unless told)."""
    needles = _values(args.value, args.values)
    missing = [n for n in needles if n not in _find(response.text, needles, args.ignore_case)]
    if missing:
        return Verdict(False, f"{', '.join(map(repr, missing))} not in the answer")
    return Verdict(True, f"found {', '.join(map(repr, needles))}")


@checker("not_contains", ContainsArgs)
def _not_contains(response: ProbeResponse, args: ContainsArgs) -> Verdict:
    """None of `value` / `values` appears in the answer, and the answer is not empty."""
    if not response.text.strip():
        return Verdict(False, "empty answer")
    found = _find(response.text, _values(args.value, args.values), args.ignore_case)
    if found:
        return Verdict(False, f"answer contains {', '.join(map(repr, found))}")
    return Verdict(True, "none of the forbidden strings appear")


class RegexArgs(CheckerArgs):
    pattern: str
    mode: Literal["search", "fullmatch", "first_line"] = Field(
        "search", description="search anywhere, match the whole answer, or the first line"
    )
    ignore_case: bool = False
    dotall: bool = False
    expect: str | None = Field(None, description="what a right answer looks like, for the detail")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern


@checker("regex", RegexArgs)
def _regex(response: ProbeResponse, args: RegexArgs) -> Verdict:
    """`pattern` is found in the answer (`search`), matches all of it, or its first line."""
    flags = (re.IGNORECASE if args.ignore_case else 0) | (re.DOTALL if args.dotall else 0)
    text = first_line(response.text) if args.mode == "first_line" else response.text.strip()
    match = (re.search if args.mode == "search" else re.fullmatch)(args.pattern, text, flags)
    if match:
        return Verdict(True, "matches" if args.mode == "search" else f"{args.mode} matches")
    where = "first line" if args.mode == "first_line" else "answer"
    want = args.expect or args.pattern
    return Verdict(False, f"{where} {_short(text)} does not match {want!r}")


class NumberArgs(CheckerArgs):
    expected: float
    tolerance: float = Field(0.0, ge=0, description="absolute")
    marker: str = Field("answer", description="the number after the last marker counts")


_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"


@checker("number", NumberArgs)
def _number(response: ProbeResponse, args: NumberArgs) -> Verdict:
    """The number after the last `marker` (e.g. 'Answer: 79'), else in \\boxed{}, else the last
    number in the answer, is `expected` within `tolerance`."""
    text = response.text
    pattern = re.escape(args.marker) + r"\s*[:=]?\s*[*$\\(]*\s*(" + _NUMBER + ")"
    found = re.findall(pattern, text, re.IGNORECASE) if args.marker else []
    found = found or re.findall(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}", text)
    found = found or re.findall(_NUMBER, text)
    if not found:
        return Verdict(False, "no number in the answer")
    raw = found[-1]
    got = float(raw.replace(",", ""))
    want = f"{args.expected:g}" + (f" ± {args.tolerance:g}" if args.tolerance else "")
    if abs(got - args.expected) <= args.tolerance + 1e-9:
        return Verdict(True, f"answered {raw} (expected {want})")
    return Verdict(False, f"answered {raw}, expected {want}")


class OneOfArgs(CheckerArgs):
    choices: list[str] = Field(min_length=2)
    expected: str | None = None
    strict: bool = Field(False, description="the whole answer must be one choice")
    after: str | None = Field(
        None, description="a marker (e.g. 'answer'): the first choice after its last occurrence"
    )
    pick: Literal["first", "last"] = Field(
        "first", description="which named choice counts when there is no marker"
    )

    @model_validator(mode="after")
    def _expected_is_a_choice(self) -> OneOfArgs:
        if self.expected is not None and self.expected.casefold() not in {
            c.casefold() for c in self.choices
        }:
            raise ValueError(f"expected {self.expected!r} is not one of choices")
        return self


def _named(text: str, choices: list[str]) -> list[tuple[int, str]]:
    hits = []
    for choice in choices:
        pattern = r"(?<!\w)" + re.escape(choice) + r"(?!\w)"
        hits += [(m.start(), choice) for m in re.finditer(pattern, text, re.IGNORECASE)]
    return sorted(hits)


@checker("one_of", OneOfArgs)
def _one_of(response: ProbeResponse, args: OneOfArgs) -> Verdict:
    """The answer picks one of `choices`: with `strict` the answer is exactly a choice; with
    `after` the first choice after the last marker; else the `pick` (first or last) named.
    That pick must be `expected` when given."""
    text = response.text.strip()
    pick: str | None = None
    if args.strict:
        trimmed = text.strip(TRIM).casefold()
        pick = next((c for c in args.choices if c.casefold() == trimmed), None)
    else:
        start = text.casefold().rfind(args.after.casefold()) if args.after else -1
        if start != -1:
            after = _named(text[start:], args.choices)
            pick = after[0][1] if after else None
        if pick is None:
            named = _named(text, args.choices)
            if named:
                pick = named[0][1] if args.pick == "first" else named[-1][1]
    if pick is None:
        return Verdict(False, f"{_short(text)} is not one of {', '.join(args.choices)}")
    if args.expected is not None and pick.casefold() != args.expected.casefold():
        return Verdict(False, f"answered {pick!r}, expected {args.expected!r}")
    return Verdict(True, f"answered {pick!r}")


class JsonSchemaArgs(CheckerArgs):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    json_schema: dict[str, Any] = Field(alias="schema")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="expected values of top-level keys (case-folded)"
    )

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return schema


@checker("json_schema", JsonSchemaArgs)
def _json_schema(response: ProbeResponse, args: JsonSchemaArgs) -> Verdict:
    """The first JSON value in the answer validates against `schema` (JSON Schema 2020-12),
    and its `fields` have the expected values."""
    import jsonschema

    values = json_values(response.text)
    if not values:
        return Verdict(False, "no JSON object or array in the answer")
    value = values[0]
    validator = jsonschema.Draft202012Validator(args.json_schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return Verdict(False, f"JSON does not match the schema at {where}: {error.message}")
    if args.fields:
        if not isinstance(value, dict):
            return Verdict(False, "expected a JSON object")
        wrong = mismatches(args.fields, value)
        if wrong:
            return Verdict(False, "; ".join(wrong))
    return Verdict(True, "valid JSON matching the schema" + (" and values" if args.fields else ""))


class ToolCallArgs(CheckerArgs):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="expected values")
    exact_arguments: bool = Field(False, description="no arguments besides the expected ones")


@checker("tool_call", ToolCallArgs)
def _tool_call(response: ProbeResponse, args: ToolCallArgs) -> Verdict:
    """The first tool call names `name` with `arguments` (API-parsed calls first, else the text)."""
    calls = tool_calls_of(response)
    if not calls:
        return Verdict(False, "no tool call found")
    call = calls[0]
    if call.name != args.name:
        return Verdict(False, f"called {call.name!r}, expected {args.name!r}")
    wrong = mismatches(args.arguments, call.arguments)
    if args.exact_arguments:
        wrong += [f"unexpected argument {k}" for k in call.arguments if k not in args.arguments]
    if wrong:
        return Verdict(False, "; ".join(wrong))
    return Verdict(True, f"{call.name} called with the expected arguments")


class NoToolCallArgs(CheckerArgs):
    pass


@checker("no_tool_call", NoToolCallArgs)
def _no_tool_call(response: ProbeResponse, args: NoToolCallArgs) -> Verdict:
    """No tool is called (none is needed) and the answer is text."""
    calls = tool_calls_of(response)
    if calls:
        return Verdict(False, f"called {calls[0].name!r} where no tool was needed")
    if not response.text.strip():
        return Verdict(False, "empty answer")
    return Verdict(True, "answered without a tool call")


class PythonFunctionArgs(CheckerArgs):
    name: str
    arity: int | None = Field(None, ge=0, description="number of positional parameters")


_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


@checker("python_function", PythonFunctionArgs)
def _python_function(response: ProbeResponse, args: PythonFunctionArgs) -> Verdict:
    """The answer's code (its first fenced block, else all of it) parses as Python and defines
    function `name` with `arity` parameters. The code is parsed, never run."""
    fence = _FENCE.search(response.text)
    code = fence.group(1) if fence else response.text
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return Verdict(False, f"not valid Python: {exc.msg} (line {exc.lineno})")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == args.name:
            n = len(node.args.posonlyargs) + len(node.args.args)
            if args.arity is not None and n != args.arity:
                return Verdict(False, f"{args.name} takes {n} parameters, expected {args.arity}")
            return Verdict(True, f"valid Python defining {args.name}")
    return Verdict(False, f"no function named {args.name!r}")


class Check(CheckerArgs):
    checker: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Check:
        try:
            validate_args(self.checker, self.args)
        except UnknownCheckerError as exc:
            raise ValueError(str(exc)) from None
        return self


class AllArgs(CheckerArgs):
    checks: list[Check] = Field(min_length=1)


@checker("all", AllArgs)
def _all(response: ProbeResponse, args: AllArgs) -> Verdict:
    """Every one of `checks` ({checker, args}) passes; the detail is the first failure."""
    details = []
    for check in args.checks:
        verdict = run_checker(check.checker, check.args, response)
        if not verdict.passed:
            return verdict
        details.append(verdict.detail)
    return Verdict(True, "; ".join(details))
