"""`selector smoke` through the real CLI: JSON contract, exit codes, bad input, the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.gguf_models import make_corrupt_gguf, make_tiny_gguf
from typer.testing import CliRunner

from selector.cli import app
from selector.smoke.probes import SuitePlan

runner = CliRunner()
ARGS = ["--n-ctx", "2048", "--threads", "1", "--timeout", "60"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.mark.integration
@pytest.mark.usefixtures("quiet_machine")
def test_smoke_json_is_the_smoke_object_plus_path_settings_and_fit(tiny: Path) -> None:
    result = runner.invoke(app, ["smoke", str(tiny), "--format", "json", *ARGS])
    # random weights fail the suite: exit 1, and the report is still complete
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    for key in (
        "status",
        "reason",
        "probes_passed",
        "probes_total",
        "decode_tokens_per_s",
        "time_to_first_token_ms",
        "peak_rss_gb",
        "model_sha256",
    ):
        assert key in data, key
    assert data["status"] == "failed"
    assert data["model_path"] == str(tiny.resolve())
    assert data["settings"]["n_ctx"] == 2048 and data["settings"]["threads"] == 1
    assert "fit" in data
    assert [p["id"] for p in data["probes"]] == [p.id for p in SuitePlan().probes()]
    assert set(data["capabilities"]) >= {"instruction-following", "long-context"}
    assert data["suite_digest"] == SuitePlan().digest()
    assert data["decode_tokens_per_s"] > 0 and not data["cached"]

    again = runner.invoke(app, ["smoke", str(tiny), "--format", "json", *ARGS])
    assert json.loads(again.stdout)["cached"] is True
    fresh = runner.invoke(app, ["smoke", str(tiny), "--format", "json", "--no-cache", *ARGS])
    assert json.loads(fresh.stdout)["cached"] is False


@pytest.mark.integration
def test_smoke_table_shows_metrics_and_probes(tiny: Path) -> None:
    result = runner.invoke(app, ["smoke", str(tiny), *ARGS], env={"COLUMNS": "160"})
    assert result.exit_code == 1, result.output
    for text in (
        "decode",
        "time to first token",
        "peak memory",
        "recall-access-code",
        "tokens/s",
        "capabilities",
        "95% interval",
        "answer: ",
    ):
        assert text in result.stdout, text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.gguf"], "no such file"),
        (["CORRUPT"], "not a loadable GGUF"),
        ([], "give a GGUF file"),
        (["--endpoint", "http://127.0.0.1:9/v1"], "--endpoint needs --model"),
        (["CORRUPT", "--needs", "tool-caling"], "did you mean 'tool-calling'?"),
        (["CORRUPT", "--needs", "vision"], "not a probed capability"),
        (["CORRUPT", "--repeats", "3"], "--repeats > 1 needs --temperature > 0"),
        (["CORRUPT", "--suite", "missing.toml"], "missing.toml: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    bad = make_corrupt_gguf(tmp_path / "corrupt.gguf")
    args = [
        str(bad) if a == "CORRUPT" else str(tmp_path / a) if a.endswith((".gguf", ".toml")) else a
        for a in args
    ]
    result = runner.invoke(app, ["smoke", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_help_does_not_import_llama_cpp() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from selector.cli import app\n"
        "r = CliRunner().invoke(app, ['smoke', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'llama_cpp' not in sys.modules and 'httpx' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_needs_runs_only_the_always_on_and_named_capabilities(tiny: Path) -> None:
    result = runner.invoke(
        app, ["smoke", str(tiny), "--format", "json", "--needs", "code", *ARGS, "--no-cache"]
    )
    data = json.loads(result.stdout)
    assert list(data["capabilities"]) == ["instruction-following", "structured-output", "code"]
    assert data["probes_total"] == 17


def test_probe_answers_are_printed_as_text_not_markup() -> None:
    from rich.console import Console

    from selector.smoke.interface import ProbeOutcome, SmokeResult, SmokeStatus
    from selector.smoke.render import probe_lines, visible

    hostile = "[bold red]PWNED[/bold red]\x1b[2J\nline two " + "x" * 300
    lines = probe_lines(
        [ProbeOutcome(id="p", passed=False, status="failed", output=hostile, detail="[link]")]
    )
    console = Console(record=True, width=200, force_terminal=False)
    for line in lines:
        console.print(line)
    text = console.export_text()
    assert "[bold red]PWNED[/bold red]" in text  # shown, not interpreted
    assert "\\x1b" in text and "\x1b" not in text  # the escape made visible
    assert "⏎line two" in text and "…" in text  # one line, cut
    assert len(visible(hostile, 100)) == 100
    assert SmokeResult(status=SmokeStatus.FAILED).capabilities == {}


def test_endpoint_tuning_comes_from_the_catalog_by_served_name() -> None:
    from selector.smoke_stage import endpoint_tuning
    from selector.vocab import Tuning

    # the demo base model served under its catalog id, or under its file path
    assert endpoint_tuning("gemma-3-270m", None, None) == (Tuning.BASE, "gemma-3-270m")
    served_path = "/models/gemma-3-270m-Q4_K_M.gguf"
    assert endpoint_tuning(served_path, None, None)[0] is Tuning.BASE
    assert endpoint_tuning("gemma-3-270m", Tuning.INSTRUCT, None)[0] is Tuning.INSTRUCT
    assert endpoint_tuning("my-private-finetune", None, None) == (Tuning.INSTRUCT, None)
