"""Reading TOML with errors that name the file and line, and pydantic errors as one line each."""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from selector.vocab import VALUE_ALIASES

_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, where it is: `file:line:col: key: message`.

    Callers format it (`str()`) or read its parts; nothing parses the text back.
    """

    file: Path | None
    line: int | None
    message: str
    column: int | None = None
    key: str | None = None  # the dotted key path, e.g. `model[3].params_b`

    def __str__(self) -> str:
        text = f"{self.key}: {self.message}" if self.key else self.message
        if self.file is None:
            return text
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        if self.line and self.column:
            where += f":{self.column}"
        return f"{where}: {text}"


class FileProblem(Exception):
    """A file that cannot be read as TOML at all; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Parse `path` into its data and text; `FileProblem` for a file that cannot be read.

    Only a regular file of at most 16 MiB is read (a FIFO or /dev/zero is refused at once);
    a byte-order mark or UTF-16 gets a hint; syntax errors and duplicate keys carry their line
    and column; nesting too deep for the parser is a problem, not a RecursionError.
    """
    from selector.paths import UnreadableFile, read_regular_file

    try:
        data = read_regular_file(path)
    except UnreadableFile as exc:
        raise FileProblem(Problem(path, None, exc.what)) from None
    text = decode_text(path, data)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = _AT_LINE.search(msg)
        if match:
            line, col = (int(g) for g in match.groups())
            what = f"TOML syntax error: {msg[: match.start()]}"
            raise FileProblem(Problem(path, line, what, column=col)) from None
        raise FileProblem(Problem(path, None, f"TOML syntax error: {msg}")) from None
    except RecursionError:
        what = "TOML syntax error: arrays or inline tables nested too deep to read"
        raise FileProblem(Problem(path, None, what)) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        what = f"TOML value selector cannot read: {str(exc).split(':')[0]}"
        raise FileProblem(Problem(path, None, what)) from None


def read_toml(path: Path, error: type[Exception]) -> tuple[dict[str, Any], str]:
    """`load_toml`, with a file that cannot be read raised as `error("file:line:col: what")`."""
    try:
        return load_toml(path)
    except FileProblem as exc:
        raise error(str(exc.problem)) from None


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 text of `data`; a byte-order mark or another encoding is a `FileProblem`."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise FileProblem(
            Problem(
                path,
                1,
                "the file starts with a UTF-8 byte-order mark (BOM), which TOML does not "
                "allow; save it as UTF-8 without BOM",
                column=1,
            )
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(Problem(path, 1, "the file is UTF-16; save it as UTF-8", column=1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        what = f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
        raise FileProblem(Problem(path, line, what, column=col)) from None


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"').strip("'") for part in text.split("."))


class _Scanner:
    """Where each line stands in TOML's syntax: inside a multi-line string or a bracket or not.

    `locate` needs only the lines that start a header or a `key = value` pair; a line inside a
    multi-line string (a triple-quoted `notes` that mentions `layers = 32`) or inside a
    multi-line array is part of an earlier value, never a key of its own.
    """

    def __init__(self) -> None:
        self.open_string = ""  # delimiter (three quotes) of a multi-line string still open
        self.depth = 0  # open [ and { of a value that spans lines

    @property
    def in_value(self) -> bool:
        return bool(self.open_string) or self.depth > 0

    def code(self, line: str) -> str:
        """The part of `line` outside strings and comments, tracking state across lines."""
        out: list[str] = []
        i, n = 0, len(line)
        if self.open_string:
            end = _close_multiline(line, 0, self.open_string)
            if end < 0:
                return ""
            self.open_string, i = "", end
        while i < n:
            ch = line[i]
            if ch == "#":
                break
            if line.startswith(('"""', "'''"), i):
                delim = line[i : i + 3]
                end = _close_multiline(line, i + 3, delim)
                out.append(" ")  # a string stands where the value is
                if end < 0:
                    self.open_string = delim
                    break
                i = end
                continue
            if ch in "\"'":
                i = _close_single(line, i + 1, ch)
                out.append(" ")
                continue
            if ch in "[{":
                self.depth += 1
            elif ch in "]}":
                self.depth = max(0, self.depth - 1)
            out.append(ch)
            i += 1
        return "".join(out)


def _close_multiline(line: str, start: int, delim: str) -> int:
    """Index just past the closing `delim` at or after `start`, or -1 if the line has none."""
    i = start
    while True:
        j = line.find(delim, i)
        if j < 0:
            return -1
        if delim == '"""' and _escaped(line, j):
            i = j + 1
            continue
        # Up to two quote characters may end the content right before the delimiter.
        extra = 0
        while extra < 2 and line.startswith(delim[0], j + 3 + extra):
            extra += 1
        return j + 3 + extra


def _close_single(line: str, start: int, quote: str) -> int:
    """Index just past the closing `quote` of a one-line string (escapes only in basic ones)."""
    i = start
    while i < len(line):
        if line[i] == "\\" and quote == '"':
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    return len(line)


def _escaped(line: str, j: int) -> bool:
    """Whether the character at `j` follows an odd number of backslashes."""
    k = j - 1
    while k >= 0 and line[k] == "\\":
        k -= 1
    return (j - 1 - k) % 2 == 1


def locate(text: str, loc: Sequence[int | str]) -> int | None:
    """Best-effort line number of the key at `loc` (e.g. ("model", 3, "params_b")) in `text`.

    Understands `[table]`, `[[array]]` headers (counting array entries) and `key = value`
    lines; the longest prefix of `loc` that is written out wins, so a missing key points at
    its table and an inline-table error at its key. Lines inside multi-line strings and
    multi-line arrays are values, not keys (see `_Scanner`). The text is indexed once (and the
    index kept for the texts last asked about), so locating N problems costs one scan, not N.
    """
    places = _line_index(text)
    path = tuple(loc)
    for size in range(len(path), 0, -1):
        if path[:size] in places:
            return places[path[:size]]
    return None


@functools.lru_cache(maxsize=16)
def _line_index(text: str) -> dict[tuple[int | str, ...], int]:
    """Every key path written out in `text`, with the line it first appears on."""
    places: dict[tuple[int | str, ...], int] = {}
    counts: dict[tuple[str, ...], int] = {}
    current: tuple[int | str, ...] = ()
    scanner = _Scanner()
    for number, raw in enumerate(text.splitlines(), start=1):
        starts_in_value = scanner.in_value
        head = raw.split("=", 1)[0] if not starts_in_value else ""
        line = scanner.code(raw).strip()
        if starts_in_value:
            continue
        if line.startswith("[["):
            name = _split_key(raw.strip().split("]]", 1)[0].strip("[ \t"))
            index = counts.get(name, 0)
            counts[name] = index + 1
            current = (*name, index)
            places.setdefault(current, number)
            places.setdefault(name, number)
        elif line.startswith("["):
            current = _split_key(raw.strip().split("]", 1)[0].strip("[ \t"))
            # A sub-table of an array entry, such as [model.attention] after [[model]].
            for size in range(len(current), 0, -1):
                if current[:size] in counts:
                    current = (*current[:size], counts[current[:size]] - 1, *current[size:])
                    break
            places.setdefault(current, number)
        elif "=" in line:
            key = _split_key(head)
            places.setdefault((*current, *key), number)
    return places


def _squash(text: str) -> str:
    """Case, spaces, dots and dashes ignored: `Llama3.1` and `llama-3.1` are one word."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def closest(
    word: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The choice a user most likely meant by `word`, or None when nothing is close.

    Tries, in order: a known alias (`aup` for acceptable-use-policy), the same word written
    another way (`Llama3.1`), then difflib on the lowercased and the squashed forms.
    """
    options = list(choices)
    squashed = {_squash(c): c for c in options}
    key = _squash(word)
    if aliases and key in aliases and aliases[key] in options:
        return aliases[key]
    if key in squashed:
        return squashed[key]
    lowered = {c.lower(): c for c in options}
    for pool, probe in ((lowered, word.lower()), (squashed, key)):
        close = difflib.get_close_matches(probe, list(pool), n=1, cutoff=0.6)
        if close:
            return pool[close[0]]
    return None


def did_you_mean(
    word: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str:
    """` (did you mean 'x'?)` for the closest choice, or nothing."""
    match = closest(word, choices, aliases)
    return f" (did you mean {match!r}?)" if match is not None and match != word else ""


def _field_names(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names allowed where `loc` points, for the did-you-mean hint."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        for c in candidates:
            nested += [
                a
                for a in getattr(c, "__args__", ())
                if isinstance(a, type) and issubclass(a, BaseModel)
            ]
        if not nested:
            return []
        current = nested[0]
    return list(getattr(current, "model_fields", {}))


# Keys whose values are never repeated in a message: they may hold a secret by mistake.
_SECRET_KEYS = frozenset({"api_key_env", "base_url", "api_key", "token", "password"})


def _echo(value: str | int | float | bool, loc: Sequence[int | str]) -> str:
    """`, got <value>` for a message; never a value that may be a secret, never a huge one."""
    from selector.redact import looks_like_secret

    if isinstance(value, str):
        if loc and loc[-1] in _SECRET_KEYS:
            return ""  # the check of that key says what is wrong without the value
        if looks_like_secret(value):
            return " (the value is not shown: it may be a secret)"
        if len(value) > 80:
            value = value[:79] + "…"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f", got a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return f", got {value!r}"


def validation_problems(
    exc: ValidationError, path: Path, text: str, model: type[BaseModel]
) -> list[Problem]:
    """One `Problem` per pydantic error: the file, the line of its key, the key path, what."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        # Drop pydantic's tagged-union and function-validator noise from the path.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and loc:
            msg = "unknown key" + did_you_mean(str(loc[-1]), _field_names(model, loc))
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = err.get("input")
        if err["type"] not in ("extra_forbidden", "missing") and isinstance(
            value, (str, int, float, bool)
        ):
            if repr(value) not in msg:
                msg += _echo(value, loc)
            if err["type"] in ("enum", "literal_error") and isinstance(value, str):
                expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
                msg += did_you_mean(value, expected, VALUE_ALIASES)
        problems.append(Problem(path, locate(text, loc), msg, key=key or None))
    return problems
