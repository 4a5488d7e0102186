"""Report formats: each a pure function from a Report to text, chosen by one enum."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from selector.report.schema import Report


class OutputFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CYCLONEDX = "cyclonedx"
    HTML = "html"


def format_report(
    report: Report, fmt: OutputFormat, *, color: bool = False, width: int | None = None
) -> str:
    """`report` as text in `fmt`; `width` is the table's terminal width (None: every column)."""
    if fmt is OutputFormat.JSON:
        return format_json(report)
    # each format imports what it needs only when asked for (the CLI imports this module first)
    if fmt is OutputFormat.MARKDOWN:
        from selector.report.markdown import format_markdown

        return format_markdown(report)
    if fmt is OutputFormat.TABLE:
        from selector.report.table import format_table

        return format_table(report, color=color, width=width)
    if fmt is OutputFormat.CYCLONEDX:
        from selector.report.cyclonedx import format_cyclonedx  # cyclonedx-python-lib: heavy

        return format_cyclonedx(report)
    if fmt is OutputFormat.HTML:
        from selector.report.html import format_html  # matplotlib: the optional `html` extra

        return format_html(report)
    assert_never(fmt)


def format_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"
