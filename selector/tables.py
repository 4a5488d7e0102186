"""Tables that read at any width: columns kept by priority, a value never cut short.

A terminal narrower than the whole table gets the columns that fit, chosen in the order each
table documents (docs/usage.md, "Narrow terminals"); a column that does not fit is left out
whole and named under the table, never squeezed to `…` or to zero width. Output that is not a
terminal (`| cat`, `--output`) gets every column: the page is as wide as its content.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text


@dataclass(frozen=True)
class Column:
    """One column: its header, how it aligns, and when it is given up for width.

    `priority` 0 is always shown; the others are added in rising priority while the table
    still fits, so a narrow column of lower priority may still be shown after a wide one of
    higher priority was left out.
    """

    header: str
    priority: int = 0
    justify: Literal["left", "right"] = "left"


def output_width() -> int | None:
    """The width to render stdout for: the terminal's ($COLUMNS first, as Rich reads it); when
    stdout is not a terminal, $COLUMNS if set, else None: as wide as the content, so `| cat`
    gets every column whole."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


# Space between two columns: one padding character each side, collapsed to one, plus the
# (blank) divider of the SIMPLE_HEAD box (a test keeps this equal to Rich's own measure).
GAP = 2


def _table(title: str | None, columns: Sequence[Column], *, wrap: bool) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in columns:
        # whole values: a column either fits or is left out; only when the always-shown
        # columns alone are too wide do they wrap (fold), still without losing a character
        table.add_column(col.header, justify=col.justify, no_wrap=not wrap, overflow="fold")
    return table


def natural_width(table: Table) -> int:
    """The width `table` takes when nothing is wrapped."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=100_000, file=io.StringIO(), color_system=None)
    return Measurement.get(console, console.options, table).maximum


def fit_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Text]],
    width: int | None,
) -> tuple[Table, list[Column]]:
    """The table for `width` (None: every column) and the columns left out for width, in column
    order; an optional column empty in every row is left out without a word."""

    from rich.cells import cell_len

    def build(keep: Sequence[int], *, wrap: bool = False) -> Table:
        table = _table(title, [columns[i] for i in keep], wrap=wrap)
        for row in rows:
            table.add_row(*(row[i] for i in keep))
        return table

    # an optional column with nothing in it (vLLM's concurrency on a CPU-only run) says nothing
    empty = {i for i, c in enumerate(columns) if c.priority and not any(r[i].plain for r in rows)}
    keep = [i for i, c in enumerate(columns) if c.priority == 0]
    optional = sorted(
        (i for i, c in enumerate(columns) if c.priority and i not in empty),
        key=lambda i: columns[i].priority,
    )
    if width is None:
        keep += optional
    else:
        # each column's width is its widest cell or header; the table adds GAP between columns
        # (measuring a built table instead costs a render per try: 0.1 s for 30 rows)
        widest = [
            max([cell_len(c.header), *(row[i].cell_len for row in rows)])
            for i, c in enumerate(columns)
        ]
        for i in optional:
            trial = [*keep, i]
            if sum(widest[j] for j in trial) + GAP * (len(trial) - 1) <= width:
                keep = trial
    keep.sort()
    table = build(keep)
    if width is not None and natural_width(table) > width:
        table = build(keep, wrap=True)
    return table, [c for i, c in enumerate(columns) if i not in keep and i not in empty]


def left_out_line(dropped: Sequence[Column], width: int | None) -> str:
    """`Not shown at 80 columns: license, origin (...)`, or "" when every column is shown."""
    if not dropped or width is None:
        return ""
    names = ", ".join(c.header for c in dropped)
    return (
        f"Not shown at {width} columns: {names} (a wider terminal, `| cat` or another "
        "--format shows every column)"
    )


def make_console(buf: io.StringIO, width: int, *, color: bool) -> Console:
    from rich.console import Console

    return Console(
        file=buf,
        width=width,
        force_terminal=color,
        color_system="auto" if color else None,
        emoji=False,  # `:name:` in a model or file name is text, not an emoji
        highlight=False,
    )


def render(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Text]],
    *,
    width: int | None,
    color: bool = False,
) -> str:
    """A table alone as text, with the line naming any column left out."""
    table, dropped = fit_table(title, columns, rows, width)
    buf = io.StringIO()
    console = make_console(buf, width or max(natural_width(table), 40), color=color)
    console.print(table)
    line = left_out_line(dropped, width)
    if line:
        console.print(line, markup=False)
    return buf.getvalue()
