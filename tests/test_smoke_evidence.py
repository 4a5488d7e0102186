"""Smoke evidence in `recommend`: a needed capability that fails its probes excludes the model
(reason `smoke`, capability named), per-capability rates reach every report format, the smoke
term uses them, and candidates the samples cannot tell apart are flagged. Three scripted
OpenAI-compatible servers on 127.0.0.1 stand in for three served models."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from endpoint_fault_server import fault_server
from support.scripted import RIGHT
from typer.testing import CliRunner

from selector.cli import app
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.smoke.stats import overlap, rate

runner = CliRunner()

GOOD_AT_TOOLS = ("gpt-oss-20b", "granite-4.0-h-small")
BAD_AT_TOOLS = "mistral-small-3.2-24b"
NO_TOOLS = {
    **RIGHT,
    "weather in Oslo": "It is sunny.",
    "time is it in Tokyo": "Noon.",
    "250 euros in US dollars": "About 270 dollars.",
    "my order 8812": "It is on its way.",
    "SKU A-77": "Plenty.",
}


def requirements(tmp_path: Path, servers: dict[str, str], extra: str = "") -> Path:
    endpoints = "".join(
        f'\n[[smoke.endpoints]]\nmodel_id = "{mid}"\nbase_url = "{url}"\n'
        'served_model = "fake-model"\n'
        for mid, url in servers.items()
    )
    text = (
        '[use_case]\nneeds = ["tool-calling"]\ncontext_tokens = 8192\n'
        '[hardware]\ngpus = [{ model = "H100", count = 8 }]\nram_gb = 1024\n'
        f"[smoke]\ntimeout_s = 60\n{extra}{endpoints}"
    )
    path = tmp_path / "req.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(tmp_path: Path, fmt: str, extra: str = "") -> tuple[int, str]:
    with ExitStack() as stack:
        urls = {
            mid: stack.enter_context(fault_server("ok", answers=RIGHT)).base_url
            for mid in GOOD_AT_TOOLS
        }
        urls[BAD_AT_TOOLS] = stack.enter_context(fault_server("ok", answers=NO_TOOLS)).base_url
        req = requirements(tmp_path, urls, extra)
        result = runner.invoke(
            app, ["recommend", str(req), "--format", fmt, "--no-bundled-model", "--no-cache"]
        )
    assert result.exit_code == 0, result.output
    return result.exit_code, result.stdout


def test_a_needed_capability_that_fails_excludes_the_model_naming_it(tmp_path: Path) -> None:
    _, out = run(tmp_path, "json")
    report = json.loads(out)
    bad = next(e for e in report["excluded"] if e["id"] == BAD_AT_TOOLS)
    assert [r["code"] for r in bad["reasons"]] == ["smoke"]
    assert bad["reasons"][0]["message"].startswith(
        "smoke test failed tool-calling: 1/6 probe runs passed (95% interval 0.03-0.56"
    )
    assert bad["smoke"]["capabilities"]["structured-output"]["rate"] == 1.0

    good = {c["id"]: c for c in report["candidates"] if c["id"] in GOOD_AT_TOOLS}
    assert set(good) == set(GOOD_AT_TOOLS)
    for model_id, cand in good.items():
        caps = cand["smoke"]["capabilities"]
        assert list(caps) == ["instruction-following", "structured-output", "tool-calling"]
        assert caps["tool-calling"] == {
            "passed": 6,
            "total": 6,
            "rate": 1.0,
            "ci_low": 0.6097,
            "ci_high": 1.0,
        }
        assert cand["score_breakdown"]["smoke"] == 1.0
        assert "17/17 probe runs passed" in cand["score_breakdown"]["why"]["smoke"]
        other = next(m for m in GOOD_AT_TOOLS if m != model_id)
        assert cand["smoke_not_distinguishable_from"] == [other]
    assert any("cannot be told apart" in n for n in report["notes"])


def test_table_and_markdown_show_each_capability(tmp_path: Path) -> None:
    _, table = run(tmp_path, "table")
    assert "capabilities: instruction-following 6/6 1.00 [0.61-1.00] pass" in table
    assert "tool-calling 6/6 1.00 [0.61-1.00] pass" in table
    assert "not distinguishable by smoke from" in table
    _, markdown = run(
        tmp_path / "md" if (tmp_path / "md").mkdir() is None else tmp_path, "markdown"
    )
    assert "  - [x] tool-calling: 6/6 probe runs passed (100%, 95% interval 61%–100%)" in markdown
    assert "**smoke**: smoke test failed tool-calling" in markdown


def test_smoke_term_is_the_pooled_rate_of_the_tested_capabilities() -> None:
    from selector.ranking import smoke_term

    result = SmokeResult(
        status=SmokeStatus.PASSED,
        capabilities={"tool-calling": rate(4, 6), "structured-output": rate(5, 5)},
    )
    term = smoke_term(result)
    assert term.value == round(9 / 11, 4)
    assert term.why.startswith("9/11 probe runs passed (95% interval 0.52-0.95)")
    assert smoke_term(SmokeResult.skipped("x")).value == 0.5
    assert smoke_term(SmokeResult.error("down")).value == 0.0


def test_intervals_overlap_until_the_samples_separate_the_rates() -> None:
    assert overlap(rate(5, 6), rate(3, 6))  # 5/6 vs 3/6: not distinguishable
    assert not overlap(rate(50, 60), rate(30, 60))  # the same rates, ten times the runs


def test_repeats_seed_and_temperature_reach_the_servers(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    with fault_server("ok", answers=RIGHT) as server:
        req = requirements(
            tmp_path,
            {"gpt-oss-20b": server.base_url},
            "repeats = 2\ntemperature = 0.8\nseed = 7\n",
        )
        result = runner.invoke(
            app, ["recommend", str(req), "--format", "json", "--no-bundled-model"]
        )
        seen = list(server.posts)
    assert result.exit_code == 0, result.output
    cand = next(c for c in json.loads(result.stdout)["candidates"] if c["id"] == "gpt-oss-20b")
    assert cand["smoke"]["capabilities"]["tool-calling"]["total"] == 12
    assert cand["smoke"]["probes_total"] == 34
    probe_posts = [p for p in seen if "count from 1 to 500" not in json.dumps(p)]
    assert {p["seed"] for p in probe_posts} == {7, 8}
    assert {p["temperature"] for p in probe_posts} == {0.8}
