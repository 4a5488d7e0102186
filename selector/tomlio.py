"""Reading TOML with errors that name the file and line, and pydantic errors as one line each."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def read_toml(path: Path, error: type[Exception]) -> tuple[dict[str, Any], str]:
    """Parse `path`; syntax errors and duplicate keys become `error("file:line:col: what")`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = _AT_LINE.search(msg)
        if match:
            line, col = match.groups()
            what = msg[: match.start()]
            raise error(f"{path}:{line}:{col}: TOML syntax error: {what}") from None
        raise error(f"{path}: TOML syntax error: {msg}") from None


def locate(text: str, loc: Sequence[int | str]) -> int | None:
    """Best-effort line number of the key at `loc` (e.g. ("model", 3, "params_b")) in `text`.

    Handles `[table]`, `[[array]]` headers and `key = value` lines, which covers the files
    selector reads; returns None where the key is not written out (a missing field).
    """
    headers: list[tuple[int, tuple[str, ...], bool]] = []
    keys: list[tuple[int, tuple[str, ...], str]] = []
    current: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            is_array = line.startswith("[[")
            name = line.strip("[]").split("#")[0].strip().strip("[]").strip()
            current = tuple(part.strip().strip('"') for part in name.split("."))
            headers.append((number, current, is_array))
        elif "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0].strip().strip('"')
            keys.append((number, current, key))

    parts = [p for p in loc if isinstance(p, str)]
    indexes = [p for p in loc if isinstance(p, int)]
    if not parts:
        return None
    # Walk headers: the first string is a table or array name; an int picks the n-th array entry.
    start, end = 0, len(text.splitlines()) + 1
    table = (parts[0],)
    occurrences = [h for h in headers if h[1] == table]
    if occurrences:
        pick = indexes[0] if (occurrences[0][2] and indexes) else 0
        if pick < len(occurrences):
            start = occurrences[pick][0]
            later = [h[0] for h in headers if h[0] > start and h[1][:1] != table or (
                h[0] > start and h[1] == table)]
            end = min(later) if later else end
            for number, section, key in keys:
                if start < number < end and section[: len(table)] == table and key in parts[1:]:
                    return number
            # A sub-table such as [hardware.gpus] or a missing key: point at the header.
            for number, section, _ in headers:
                if start <= number < end and section[1:2] and section[1] in parts[1:]:
                    return number
            return start
    for number, section, key in keys:
        if not section and key == parts[0]:
            return number
    return None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
                a for a in getattr(c, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
        if not nested:
            return []
        current = nested[0]
    return list(getattr(current, "model_fields", {}))


def describe_validation_error(
    exc: ValidationError, path: Path, text: str, model: type[BaseModel]
) -> list[str]:
    """One `file:line: key.path: what is wrong` line per problem."""
    lines = []
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
        line = locate(text, loc)
        where = f"{path}:{line}" if line else f"{path}"
        lines.append(f"{where}: {key or '(top level)'}: {msg}" if key else f"{where}: {msg}")
    return lines
