"""The table reads at 80, 100 and 150 columns: a column is shown whole or left out by name,
never squeezed to zero width or cut to `…`; `| cat` gets every column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.catalog import load_catalog
from selector.catalog.views import CATALOG_COLUMNS, catalog_rows, format_catalog_table
from selector.cli import app
from selector.hardware import resolve_hardware
from selector.pipeline import SmokePlan, recommend
from selector.report.schema import Report
from selector.report.table import COLUMNS, format_table
from selector.requirements import load_requirements

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
HEADERS = [col.header for col, _ in COLUMNS]


def run(example: str) -> Report:
    cat = load_catalog()
    path = EXAMPLES / example
    req = load_requirements(path, cat)
    hw = resolve_hardware(req.hardware, cat)
    return recommend(req, cat, hw, SmokePlan(enabled=False), now=NOW, requirements_path=path)


@pytest.fixture(scope="module", params=["cpu-laptop.toml", "multi-gpu-server.toml"])
def report(request: pytest.FixtureRequest) -> Report:
    return run(request.param)


def header_line(text: str, first: str = "#") -> str:
    return next(line for line in text.splitlines() if line.split()[:1] == [first])


def shown_headers(text: str) -> list[str]:
    return [h for h in HEADERS if h in header_line(text).split()]


@pytest.mark.parametrize("width", [80, 100, 150])
def test_every_kept_column_is_whole_and_the_rest_are_named(report: Report, width: int) -> None:
    text = format_table(report, width=width)
    # the provenance footer stays one line at any width (tests/test_provenance.py): grep-able
    body = [line for line in text.splitlines() if not line.startswith("Provenance:")]
    assert all(len(line) <= width for line in body), text
    assert "…" not in text
    shown = shown_headers(text)
    for always in ("#", "model", "score"):
        assert always in shown
    # the columns the 80-column table used to lose (zero width or cut): shown whole where
    # they fit (the 8-GPU server's vLLM layout is wider: at 80 columns its smoke goes first)
    server = bool(report.hardware.gpus)
    for header in ("memory", "tok/s", "smoke", "score"):
        if not (server and width == 80 and header in ("tok/s", "smoke")):
            assert header in shown, f"{header} not shown at {width}"
    empty = {col.header for col, cell in COLUMNS if not any(cell(c) for c in report.candidates)}
    dropped = [h for h in HEADERS if h not in shown and h not in empty]
    if dropped:
        note = " ".join(text.split())
        assert f"Not shown at {width} columns: {', '.join(dropped)}" in note
    else:
        assert "Not shown" not in text
    lines = text.splitlines()
    for c in report.candidates:
        row = next(line for line in lines if line.split()[:2] == [str(c.rank), c.id])
        for col, cell in COLUMNS:
            if col.header in shown and cell(c):
                assert f" {cell(c)}" in f" {row}", (col.header, cell(c), row)


def test_at_150_every_column_of_the_laptop_run_is_shown() -> None:
    # every column but vLLM's concurrency, empty on a CPU-only run
    shown = shown_headers(format_table(run("cpu-laptop.toml"), width=150))
    assert shown == [h for h in HEADERS if h != "conc"]


def test_a_pipe_gets_every_column_whole(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["recommend", str(EXAMPLES / "cpu-laptop.toml"), "--no-smoke"], env={"TERM": "dumb"}
    )
    assert result.exit_code == 0, result.output
    # every column but vLLM's concurrency, empty on a CPU-only run
    assert shown_headers(result.stdout) == [h for h in HEADERS if h != "conc"]
    assert "Not shown" not in result.stdout and "…" not in result.stdout


def test_columns_env_sets_the_width_of_piped_output() -> None:
    result = CliRunner().invoke(
        app,
        ["recommend", str(EXAMPLES / "cpu-laptop.toml"), "--no-smoke"],
        env={"COLUMNS": "80", "TERM": "dumb"},
    )
    assert result.exit_code == 0, result.output
    body = [x for x in result.stdout.splitlines() if not x.startswith("Provenance:")]
    assert max(len(line) for line in body) <= 80
    assert "Not shown at 80 columns" in result.stdout


@pytest.mark.parametrize("width", [80, 100, 150, None])
def test_catalog_list_reads_at_every_width(width: int | None) -> None:
    rows = catalog_rows(load_catalog())
    text = format_catalog_table(rows, width=width)
    if width is not None:
        assert all(len(line) <= width for line in text.splitlines())
    assert "…" not in text
    header = header_line(text, "id")
    shown = [c.header for c in CATALOG_COLUMNS if c.header in header.split()]
    assert shown[0] == "id" and "license" in shown
    if width is None:
        assert shown == [c.header for c in CATALOG_COLUMNS]
    keys = {"id": "id", "origin": "origin_country", "license": "license", "arch": "architecture"}
    lines = text.splitlines()
    for r in rows:
        line = next(x for x in lines if x.split()[:1] == [r["id"]])
        for header, key in keys.items():
            if header in shown:
                assert f" {r[key]}" in f" {line}", (header, line)


def test_catalog_list_piped_is_not_cut_at_140() -> None:
    result = CliRunner().invoke(app, ["catalog", "list"], env={"TERM": "dumb"})
    assert result.exit_code == 0, result.output
    header = header_line(result.stdout, "id").split()
    assert header == [c.header for c in CATALOG_COLUMNS]
    assert "…" not in result.stdout


def test_usage_doc_states_the_order_columns_are_kept_in() -> None:
    from selector.catalog.views import GPU_COLUMNS

    doc = (EXAMPLES.parent / "docs" / "usage.md").read_text(encoding="utf-8")
    for name, columns in (
        ("recommend", [col for col, _ in COLUMNS]),
        ("catalog list", list(CATALOG_COLUMNS)),
        ("catalog gpus", list(GPU_COLUMNS)),
    ):
        always = ", ".join(f"`{c.header}`" for c in columns if c.priority == 0)
        then = ", ".join(
            f"`{c.header}`"
            for c in sorted((c for c in columns if c.priority), key=lambda c: c.priority)
        )
        assert f"| `{name}` | {always} | {then} |" in doc


def test_the_width_the_columns_are_chosen_by_is_the_width_rich_draws() -> None:
    """selector.tables chooses columns by adding widths and GAPs: Rich must agree, or a kept
    column would be squeezed after all."""
    import random

    from rich.text import Text

    from selector.tables import GAP, Column, fit_table, natural_width

    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(1, 8)
        columns = [Column(f"h{i}" * rng.randint(1, 4), i) for i in range(n)]
        rows = [[Text("x" * rng.randint(0, 12) + "é") for _ in range(n)] for _ in range(5)]
        table, dropped = fit_table("t", columns, rows, None)
        widest = [
            max(len(c.header), *(len(r[i].plain) for r in rows)) for i, c in enumerate(columns)
        ]
        assert not dropped
        assert natural_width(table) == sum(widest) + GAP * (n - 1)


@pytest.mark.parametrize("columns", ["80", None])
def test_models_table_wraps_long_paths_without_cutting_them(
    tmp_path: Path, columns: str | None
) -> None:
    from support.gguf_models import make_tiny_gguf

    name = "a-very-long-private-fine-tune-name-that-no-80-column-terminal-holds-Q4_K_M.gguf"
    make_tiny_gguf(tmp_path / name, arch="nosucharch")
    env = {"TERM": "dumb", **({"COLUMNS": columns} if columns else {})}
    result = CliRunner().invoke(
        app, ["models", "--models-dir", str(tmp_path), "--no-hash"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    if columns:
        assert max(len(line) for line in lines) <= int(columns)
    else:
        assert any(name in line for line in lines)  # piped: the path on one line
    squeezed = "".join(ch for ch in result.stdout if ch not in " │┃\n")
    assert name in squeezed and "…" not in result.stdout
