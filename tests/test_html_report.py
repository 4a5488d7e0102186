"""`recommend --format html`: one self-contained page, its charts, and a real browser's view."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from decision_factory import catalog, hardware, model_entry, requirements, toml_catalog
from headless_chromium import chromium_path, visit
from typer.testing import CliRunner

from selector.errors import InputError
from selector.pipeline import SmokePlan, recommend
from selector.report.formats import OutputFormat, format_report
from selector.report.schema import Report

runner = CliRunner()
POINTS = "#candidate-points > path, #candidate-points use"


class _Scan(HTMLParser):
    """Counts the scatter's markers and collects what the page would load."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # > 0 inside <g id="candidate-points">
        self.points = 0
        self.loads: list[str] = []
        self.tags: list[str] = []
        self.headings: list[str] = []
        self._in_h3 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if self.depth:
            self.depth += 1
            if tag == "use" or (tag == "path" and self.depth == 2):
                self.points += 1
        elif tag == "g" and a.get("id") == "candidate-points":
            self.depth = 1
        for key in ("src", "srcset", "data"):
            if a.get(key):
                self.loads.append(str(a[key]))
        if tag == "link":
            self.loads.append(str(a.get("href")))
        self._in_h3 = tag == "h3"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self.depth:
            self.depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1
        self._in_h3 = False

    def handle_data(self, data: str) -> None:
        if self._in_h3:
            self.headings.append(data)


def scan(text: str) -> _Scan:
    parser = _Scan()
    parser.feed(text)
    return parser


def strict_report(repo_root: Path) -> Report:
    from selector.catalog import load_catalog
    from selector.hardware import resolve_hardware
    from selector.requirements import load_requirements

    cat = load_catalog()
    req = load_requirements(repo_root / "examples" / "server-strict-license.toml", cat)
    return recommend(req, cat, resolve_hardware(req.hardware, cat), SmokePlan(enabled=False))


def test_page_is_self_contained_with_one_point_per_candidate(repo_root: Path) -> None:
    report = strict_report(repo_root)
    page = format_report(report, OutputFormat.HTML)
    seen = scan(page)
    assert len(report.candidates) > 5
    assert seen.points == len(report.candidates)
    assert seen.loads == []  # nothing to fetch: no src, no stylesheet link
    assert "script" not in seen.tags  # and nothing to run
    assert "default-src 'none'" in page
    # the exclusions, grouped by reason code, each heading naming its count
    codes = {r.code.value for e in report.excluded for r in e.reasons}
    grouped = {h.split(" (")[0] for h in seen.headings}
    assert codes <= grouped
    # the license obligations of the shortlist and the stacked bars' terms
    assert "License obligations" in page and "attribution" in page
    for term in ("quality", "size_preference", "license", "tooling", "smoke"):
        assert f">{term}</text>" in page
    assert page == format_report(report, OutputFormat.HTML)  # no dates or random ids


def test_catalog_text_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    cat = catalog(model_entry("m", 8, quality=50, name=evil, organization="<b>Lab</b>"))
    req = requirements({"hardware": {"gpus": [{"model": "card-48"}], "ram_gb": 64}})
    report = recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))
    page = format_report(report, OutputFormat.HTML)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert scan(page).points == 1


def test_cli_writes_html(tmp_path: Path) -> None:
    from selector.cli import app

    models = [model_entry(f"m{i}", 4 + 4 * i, quality=40 + 5 * i) for i in range(4)]
    cat_path = tmp_path / "catalog.toml"
    cat_path.write_text(toml_catalog(*models), encoding="utf-8")
    req_path = tmp_path / "req.toml"
    req_path.write_text('[hardware]\ngpus = [{ model = "card-80" }]\nram_gb = 64\n', "utf-8")
    out = tmp_path / "report.html"
    args = ["recommend", str(req_path), "--no-smoke", "--format", "html", "-o", str(out)]
    result = runner.invoke(app, [*args, "--catalog", str(cat_path), "--replace-catalog"])
    assert result.exit_code == 0, result.output
    assert scan(out.read_text(encoding="utf-8")).points == 4


def test_missing_matplotlib_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    from selector.cli import app
    from selector.report.html import require_charting

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    with pytest.raises(InputError, match=r"pip install 'selector\[html\]'"):
        require_charting()
    req = repo_root / "examples" / "server-strict-license.toml"
    result = runner.invoke(app, ["recommend", str(req), "--no-smoke", "--format", "html"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --format html: the HTML report needs matplotlib: pip install 'selector[html]'"
    ]


needs_chromium = pytest.mark.skipif(
    chromium_path() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
)


@needs_chromium
def test_browser_harness_sees_errors_and_requests(tmp_path: Path) -> None:
    """The harness can fail: a page with an error, an exception and a remote image."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<img src="https://example.com/x.png"><script>console.error("boom");missing();</script>',
        encoding="utf-8",
    )
    seen = visit(page, {})
    assert any("boom" in e for e in seen.console_errors)
    assert any("missing" in e for e in seen.console_errors)
    assert seen.network_requests == ["https://example.com/x.png"]


@needs_chromium
def test_report_in_headless_chromium(repo_root: Path, tmp_path: Path) -> None:
    report = strict_report(repo_root)
    page = tmp_path / "report.html"
    page.write_text(format_report(report, OutputFormat.HTML), encoding="utf-8")
    seen = visit(
        page,
        {
            "points": f"document.querySelectorAll({POINTS!r}).length",
            "rows": "document.querySelectorAll('[id^=\"cand-\"]').length",
            "charts": "document.querySelectorAll('figure.chart svg').length",
            "scatter_width": "document.querySelector('#scatter-chart svg')"
            ".getBoundingClientRect().width",
        },
    )
    assert seen.console_errors == []
    assert seen.network_requests == []
    assert seen.values["points"] == len(report.candidates)
    assert seen.values["rows"] == len(report.candidates)
    assert seen.values["charts"] == 2
    assert seen.values["scatter_width"] > 300  # drawn, not collapsed
