"""The report: its schema (the JSON contract) and its formats."""

from selector.report.formats import OutputFormat, format_report
from selector.report.schema import SCHEMA_VERSION, Report

__all__ = ["SCHEMA_VERSION", "OutputFormat", "Report", "format_report"]
