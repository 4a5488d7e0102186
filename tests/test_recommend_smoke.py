"""`recommend` with local weights: the smoke stage runs a real GGUF through llama.cpp, and its
result reaches the report (the measured figures, the predicted memory, the `smoke` reason)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.gguf_models import CHATML_TEMPLATE, make_tiny_gguf
from typer.testing import CliRunner

from selector.cli import app

runner = CliRunner()

PRIVATE_MODEL = """
[[model]]
id = "acme-tiny"
name = "Acme Tiny (test fixture)"
family = "acme"
organization = "Acme"
origin_country = "US"
release_date = 2026-01-01
params_b = 0.0003
architecture = "dense"
layers = 2
context_tokens = 4096
license = "apache-2.0"
runtimes = ["llama.cpp"]
gguf_arch = "llama"
gguf_files = ["acme-tiny.gguf"]
sources = ["https://example.com/acme-tiny"]

[model.attention]
heads = 4
kv_heads = 2
head_dim = 16
"""


def run(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    repo = Path(__file__).resolve().parents[1] / "catalog"
    for name in ("licenses.toml", "gpus.toml"):
        (catalog / name).write_text((repo / name).read_text(encoding="utf-8"), encoding="utf-8")
    (catalog / "acme.toml").write_text(PRIVATE_MODEL, encoding="utf-8")
    models = tmp_path / "models"
    models.mkdir()
    make_tiny_gguf(models / "acme-tiny.gguf", name="Acme Tiny", chat_template=CHATML_TEMPLATE)
    req = tmp_path / "req.toml"
    req.write_text(
        # a generous limit: the machine running the tests is shared, and a tiny model answers
        # every probe to its full budget
        "[use_case]\ncontext_tokens = 2048\n[smoke]\ntimeout_s = 300\nn_ctx = 512\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        [
            "recommend",
            str(req),
            "--format",
            "json",
            "--catalog",
            str(catalog),
            "--replace-catalog",
            "--models-dir",
            str(models),
            "--no-bundled-model",
            *extra,
        ],
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.integration
def test_local_weights_are_smoke_tested_and_the_verdict_is_reported(tmp_path: Path) -> None:
    code, report = run(tmp_path)
    # random weights cannot pass the probes: the model is excluded for `smoke`, run exits 1
    assert code == 1
    assert report["candidates"] == []
    (excluded,) = report["excluded"]
    assert excluded["id"] == "acme-tiny"
    # each capability the run tested and failed is its own `smoke` reason, named
    assert {r["code"] for r in excluded["reasons"]} == {"smoke"}
    messages = [r["message"] for r in excluded["reasons"]]
    assert messages[0].startswith("smoke test failed instruction-following: 0/6 probe runs")
    assert messages[1].startswith("smoke test failed structured-output: 0/5 probe runs")
    smoke = excluded["smoke"]
    # no `needs`: only the always-on capabilities ran
    assert list(smoke["capabilities"]) == ["instruction-following", "structured-output"]
    assert smoke["capabilities"]["structured-output"]["ci_high"] < 0.6
    assert smoke["status"] == "failed" and smoke["backend"] == "llama.cpp"
    assert smoke["probes_total"] == len(smoke["probes"]) > 0
    assert smoke["decode_tokens_per_s"] > 0 and smoke["peak_rss_gb"] > 0
    assert len(smoke["model_sha256"]) == 64


@pytest.mark.integration
@pytest.mark.usefixtures("quiet_machine")
def test_a_cached_rerun_gives_the_same_verdict(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    _, first = run(first_dir)
    _, second = run(second_dir)
    assert first["excluded"], (
        first["candidates"][0]["smoke"]["reason"] if first["candidates"] else first
    )
    assert first["excluded"][0]["smoke"]["cached"] is False
    assert second["excluded"][0]["smoke"]["cached"] is True
    assert first["excluded"][0]["reasons"] == second["excluded"][0]["reasons"]
