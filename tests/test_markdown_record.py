"""The Markdown decision record: what procurement and legal need, in an order they can sign."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from private_catalog import make_private_catalog, sha256_of
from typer.testing import CliRunner

from selector.cli import app
from selector.fit.placement import GPU_HEADROOM_FRACTION, GPU_HEADROOM_GIB
from selector.report.decision import minimum_hardware
from selector.report.markdown import format_markdown
from selector.report.schema import Report
from selector.textsafe import md as md_escape

runner = CliRunner()

REQ = """
[use_case]
name = "support-agent"
needs = ["tool-calling"]
context_tokens = 32768

[license]
commercial_use = true

[hardware]
gpus = [{ model = "L40S", count = 1 }]
ram_gb = 128

[latency]
min_decode_tokens_per_s = 60
"""


def report_for(req: Path, *extra: str) -> Report:
    result = runner.invoke(
        app, ["recommend", str(req), "--no-smoke", "--no-bundled-model", "-f", "json", *extra]
    )
    assert result.exit_code == 0, result.output
    return Report.model_validate_json(result.stdout)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = tmp_path_factory.mktemp("md") / "req.toml"
    path.write_text(REQ, encoding="utf-8")
    return report_for(path)


def test_sections_in_the_order_a_reviewer_signs_them(report: Report) -> None:
    md = format_markdown(report)
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    top = report.candidates[0]
    expected = [
        "## Policy applied",
        "## Inputs",
        "## Shortlist",
        f"## Why `{top.id}`",
        f"## 1. {top.name} (`{top.id}`)",
    ]
    assert headings[: len(expected)] == expected
    assert headings[-1] == "## Approvals"
    near, why = (
        headings.index("## Near misses"),
        headings.index("## Why the other models were excluded"),
    )
    assert len(expected) < near < why < len(headings) - 1
    tail = md[md.index("## Approvals") :]
    for role in ("Legal", "Security", "Platform owner"):
        assert re.search(rf"^\| {role}[^|]*\|  \|  \|  \|$", tail, re.M), role
    assert f"Decision: [ ] approve `{top.id}`" in tail and "date: ________" in tail


def test_policy_is_the_requirements_as_understood(report: Report) -> None:
    md = format_markdown(report)
    policy = md[md.index("## Policy applied") : md.index("## Inputs")]
    assert "capabilities needed: tool-calling; context of at least 32,768 tokens" in policy
    assert "commercial use must be permitted" in policy
    assert "decode at least 60 tokens/s" in policy
    assert "quantization chosen per model" in policy  # the default, auto, in words
    assert "engine chosen per hardware" in policy and "1 concurrent session at" in policy
    assert "1x L40S (48 GB)" in policy


def test_shortlist_has_speed_and_smoke_columns(report: Report) -> None:
    md = format_markdown(report)
    header = next(line for line in md.splitlines() if line.startswith("| # | model"))
    assert "| tokens/s | smoke |" in header
    rows = [line for line in md.splitlines() if re.match(r"^\| \d+ \| ", line)]
    assert len(rows) == len(report.candidates)
    assert all(row.count(" | ") == header.count(" | ") for row in rows)
    for row, c in zip(rows, report.candidates, strict=True):
        speed, smoke = [cell.strip() for cell in row.split(" | ")[7:9]]
        assert speed == f"~{c.fit.estimated_decode_tokens_per_s:.0f} est."
        assert smoke == "skipped"


def test_minimum_hardware_comes_from_the_fit_not_the_declaration(report: Report) -> None:
    top = report.candidates[0]
    md = format_markdown(report)
    line = next(x for x in md.splitlines() if x.startswith("- [ ] Minimum hardware:"))
    card = (top.fit.gpu_memory_gb + GPU_HEADROOM_GIB) / (1 - GPU_HEADROOM_FRACTION)
    assert f"{top.fit.gpu_memory_gb:.1f} GB of GPU memory" in line
    assert f"one GPU of at least {card:.0f} GB" in line
    assert card < 48 and "L40S" not in line
    assert f"{top.disk_gb:.1f} GB of disk" in line


def test_minimum_hardware_for_cpu_split_and_tensor_parallel(report: Report) -> None:
    fit = report.candidates[0].fit
    cpu = fit.model_copy(update={"placement": "cpu", "memory_gb": 9.0})
    assert minimum_hardware(cpu, 5).startswith("no GPU: 9.0 GB resident")
    assert "at least 10 GB of RAM" in minimum_hardware(cpu, 5)
    split = fit.model_copy(update={"placement": "split", "gpu_memory_gb": 20.0, "cpu_memory_gb": 9})
    assert "plus 9.0 GB offloaded to RAM (at least 10 GB of RAM" in minimum_hardware(split, 5)
    tp = fit.model_copy(update={"gpu_memory_gb": 100.0, "tensor_parallel": 2})
    assert "2 GPUs of at least 53 GB each" in minimum_hardware(tp, 5)


def test_near_misses_are_narrow_estimate_only_exclusions_with_their_assumption(
    report: Report,
) -> None:
    ids = {n.id for n in report.near_misses}
    assert "llama-3.1-8b" in ids  # estimated ~50 tokens/s against 60: within 25%
    excluded = {e.id: e for e in report.excluded}
    assert "qwen3.6-27b" in excluded and "qwen3.6-27b" not in ids  # ~25 tokens/s: far off
    assert "deepseek-r1-0528" not in ids  # 385 GB against 48 GB is no near miss
    for n in report.near_misses:
        assert {r.code.value for r in n.reasons} <= {"fit", "latency"}
        assert n.assumptions and all("estimate" in a for a in n.assumptions)
    md = format_markdown(report)
    section = md[md.index("## Near misses") : md.index("## Why the other models")]
    llama = next(line for line in section.splitlines() if line.startswith("| llama-3.1-8b"))
    miss = next(n for n in report.near_misses if n.id == "llama-3.1-8b")
    speed = next(e for e in report.excluded if e.id == "llama-3.1-8b").reasons[0].message
    assert speed.startswith("estimated decode ") and speed.split()[2] in llama
    assert md_escape(miss.assumptions[0]) in llama  # escaped as every outside text is


def test_license_text_version_and_whether_clauses_were_verified(report: Report) -> None:
    md = format_markdown(report)
    top = report.candidates[0]
    assert top.license_terms.version
    assert f"text version: {top.license_terms.version}; clauses verified" in md


def test_rationale_names_the_pick_the_runner_up_and_the_basis(report: Report) -> None:
    md = format_markdown(report)
    top, second = report.candidates[:2]
    para = md.split(f"## Why `{top.id}`\n\n")[1].split("\n")[0]
    assert para.startswith(f"{top.name} (`{top.id}`) ranks first of {len(report.candidates)}")
    assert f"the runner-up, `{second.id}`, scores {second.score:.3f}" in para
    assert top.license_terms.name in para
    assert "not smoke-tested" in para


def test_the_exact_artifact_or_what_is_missing(tmp_path: Path) -> None:
    pinned = make_private_catalog(tmp_path / "a")
    md = format_markdown(report_for(pinned.requirements, "--catalog", str(pinned.dir)))
    line = next(x for x in md.splitlines() if x.startswith("- [ ] Artifact to deploy"))
    gguf = pinned.weights["acme-3b"]
    assert f"repository `acme/acme-3b-GGUF`, revision `{1:040x}`, file `{gguf.name}`" in line
    assert f"sha256 `{sha256_of(gguf)}`, {gguf.stat().st_size:,} bytes" in line
    assert "not pinned" not in line
    loose = make_private_catalog(tmp_path / "b", pinned=False)
    md = format_markdown(report_for(loose.requirements, "--catalog", str(loose.dir)))
    line = next(x for x in md.splitlines() if x.startswith("- [ ] Artifact to deploy"))
    assert line.endswith("not pinned: sha256, size")
