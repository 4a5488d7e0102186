"""Text from outside (answers, server errors, file names, catalog strings) made safe to show.

Every string selector did not write itself passes through here on its way to a terminal, a
Rich renderable or a Markdown report: control characters (ESC sequences, carriage returns,
bidirectional overrides) are made visible, Rich markup is escaped, Markdown syntax is
escaped. Rendering code calls these at the one place outside text enters it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 controls (tab and newline handled by the caller's choice), DEL, C1 controls, and the
# Unicode format characters that reorder or hide text on a terminal (bidi overrides and
# isolates, zero-width joiners/spaces, the BOM, line/paragraph separators).
_FORMAT = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f{_FORMAT}]")  # keeps tab and newline
_CONTROL_ALL = re.compile(f"[\x00-\x1f{_FORMAT}]")
# Markdown inline syntax (emphasis, code, links, strike-through), HTML and entities, headings
# and table pipes: escaped with a backslash (CommonMark allows one before any ASCII
# punctuation, so the rendered text reads the same). Parentheses need none once `[` is escaped.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~&])")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code == 0x09:
        return " "
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, *, newlines: bool = False) -> str:
    """`text` as a string with every control character shown as an escape (`\\x1b`).

    Tabs become spaces; newlines are kept only with `newlines=True` (else shown as `\\x0a`).
    """
    value = text if isinstance(text, str) else str(text)
    if newlines:
        return _CONTROL.sub(_visible, value.replace("\t", " "))
    return _CONTROL_ALL.sub(_visible, value)


def one_line(text: object, limit: int | None = None) -> str:
    """Whitespace runs (newlines included) collapsed to one space, controls made visible,
    cut to `limit` characters with an ellipsis."""
    value = " ".join(clean(text, newlines=True).split())
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)] + "…"
    return value


def markup(text: object) -> str:
    """Outside text to embed in a Rich markup string: cleaned, then markup-escaped."""
    from rich.markup import escape

    return escape(clean(text, newlines=True))


def rich_text(text: object, style: str = "") -> Text:
    """Outside text as a Rich `Text` (never parsed as markup), controls made visible."""
    from rich.text import Text

    return Text(clean(text, newlines=True), style=style)


def md(text: object) -> str:
    """Outside text for a Markdown line or table cell: one line, syntax and HTML escaped."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


def md_code(text: object) -> str:
    """Outside text for inside a Markdown code span: one line, no backticks to break out."""
    return one_line(text).replace("`", "'")
