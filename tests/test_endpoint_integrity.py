"""Evidence integrity through endpoints, against the local fault server: the served model is
the one named, the timed decode is long enough, a setup error is not the model's."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from endpoint_fault_server import fault_server
from typer.testing import CliRunner

from selector.cli import app
from selector.ranking import UNTESTED_SMOKE_SCORE, smoke_term
from selector.smoke.cache import SmokeCache
from selector.smoke.endpoint import EndpointBackend
from selector.smoke.interface import MIN_SPEED_TOKENS, SmokeSettings, SmokeStatus
from selector.smoke.runner import SmokeJob, run_many, run_suite
from selector.textsafe import md

FAST = {"timeout_s": 2.0, "connect_timeout_s": 1.0, "retries": 1, "backoff_s": 0.01}
SETTINGS = SmokeSettings(max_tokens=32, speed_tokens=64, speed_runs=3, timeout_s=20)
ANSWERS = {
    "count from 1 to 500": " ".join(str(i) for i in range(1, 41)),  # stops after 40 numbers
    "access code for the storage room": "4817",
}
runner = CliRunner()


# -------------------------------------------------------------------- the served model
def test_a_model_the_server_does_not_serve_is_refused_before_any_probe() -> None:
    # llama-server answers for any name: without the check, fake-model's answers would be
    # credited to gpt-oss-20b (found as a new user would)
    with fault_server("ok", answers=ANSWERS) as server:
        result = EndpointBackend(server.base_url, "gpt-oss-20b", **FAST).run(SETTINGS)
        posts = list(server.posts)
    assert posts == []  # nothing was asked of the wrong model
    assert result.status is SmokeStatus.ERROR and result.setup_error
    assert result.reason == (
        f"{server.base_url} serves 'fake-model', not 'gpt-oss-20b': "
        "set served_model (or --model) to the name the server lists"
    )
    assert "\n" not in result.reason
    assert result.probes == [] and result.decode_tokens_per_s is None
    # not credited: neutral in the ranking, with the cause
    term = smoke_term(result)
    assert term.value == UNTESTED_SMOKE_SCORE and "serves 'fake-model'" in term.why


def test_ollama_latest_tag_counts_as_the_name() -> None:
    with fault_server("ok", answers=ANSWERS, models=["qwen3:latest"]) as server:
        result = EndpointBackend(server.base_url, "qwen3", **FAST).run(SETTINGS)
    assert not result.setup_error, result.reason
    assert result.status is not SmokeStatus.ERROR


@pytest.mark.parametrize(("models", "status"), [(None, 404), ([], 200)])
def test_a_server_that_cannot_list_its_models_is_run_with_a_note(
    models: list[str] | None, status: int
) -> None:
    with fault_server("ok", answers=ANSWERS, models=models, models_status=status) as server:
        result = EndpointBackend(server.base_url, "fake-model", **FAST).run(SETTINGS)
    assert result.status is not SmokeStatus.ERROR, result.reason
    assert any(n.startswith("served model not verified") for n in result.notes), result.notes


def test_selector_smoke_refuses_a_wrong_name_with_one_line_and_exit_2() -> None:
    with fault_server("ok", answers=ANSWERS) as server:
        result = runner.invoke(
            app, ["smoke", "--endpoint", server.base_url, "--model", "gpt-oss-20b"]
        )
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: {server.base_url} serves 'fake-model', not 'gpt-oss-20b': "
        "set served_model (or --model) to the name the server lists"
    ]


# ------------------------------------------------------------------- the timed decode
def test_speed_runs_ask_the_server_not_to_stop_and_take_the_median() -> None:
    with fault_server("ok", answers=ANSWERS, honours_ignore_eos=True) as server:
        result = EndpointBackend(server.base_url, "fake-model", **FAST).run(SETTINGS)
        timed = [p for p in server.posts if p.get("ignore_eos")]
    assert len(timed) == SETTINGS.speed_runs == 3
    assert all(p["min_tokens"] == p["max_tokens"] == SETTINGS.speed_tokens for p in timed)
    speed = result.speed
    assert speed is not None and speed.runs == 3 and speed.where == "endpoint"
    assert speed.tokens_per_run >= MIN_SPEED_TOKENS and speed.usable, speed
    assert result.decode_tokens_per_s == pytest.approx(
        statistics.median(speed.decode_tokens_per_s_runs), rel=0.01
    )
    assert speed.busy is None  # the serving machine's load is not visible from here
    assert "median of 3 runs" in result.reason


def test_a_run_that_stops_early_is_reported_but_not_usable() -> None:
    with fault_server("ok", answers=ANSWERS) as server:  # ignores ignore_eos: 40 numbers
        result = EndpointBackend(server.base_url, "fake-model", **FAST).run(SETTINGS)
    speed = result.speed
    assert speed is not None and not speed.usable
    assert speed.tokens_per_run == 41 and result.speed_tokens == 41
    assert "decoded 41 tokens, fewer than the 64" in speed.why_not_usable
    assert result.decode_tokens_per_s is not None  # reported, with its token count
    assert not result.speed_usable


def test_a_server_refusing_ignore_eos_is_asked_again_without() -> None:
    with fault_server("ok", answers=ANSWERS, reject_needle='"ignore_eos"') as server:
        result = EndpointBackend(server.base_url, "fake-model", **FAST).run(SETTINGS)
        without = [p for p in server.posts if "count from 1" in json.dumps(p)]
    assert result.status is not SmokeStatus.ERROR, result.reason
    assert sum("ignore_eos" not in p for p in without) == 3  # every timed run, asked plainly
    assert any("refused ignore_eos / min_tokens" in n for n in result.notes), result.notes


# ------------------------------------------------------------------------ setup errors
def test_unset_key_variable_is_a_setup_error_with_nothing_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SELECTOR_UNSET_KEY", raising=False)
    with fault_server("ok", answers=ANSWERS) as server:
        result = EndpointBackend(
            server.base_url, "fake-model", api_key_env="SELECTOR_UNSET_KEY", **FAST
        ).run(SETTINGS)
    assert result.setup_error and result.status is SmokeStatus.ERROR
    data = json.loads(result.model_dump_json())
    for key in ("decode_tokens_per_s", "time_to_first_token_ms", "peak_rss_gb", "load_time_s"):
        assert data[key] is None, key  # null, never a 0.0 that reads as a measurement
    assert smoke_term(result).value == UNTESTED_SMOKE_SCORE


def test_refused_connection_is_a_setup_error(tmp_path: Path) -> None:
    result = EndpointBackend("http://127.0.0.1:9/v1", "m", **FAST).run(SETTINGS)
    assert result.setup_error and "connection refused" in result.reason


def test_a_failure_after_the_model_was_asked_is_the_models() -> None:
    with fault_server("500") as server:  # GET /models answers; every POST fails
        result = EndpointBackend(server.base_url, "fake-model", **FAST).run(SETTINGS)
    assert result.status is SmokeStatus.ERROR and not result.setup_error
    assert smoke_term(result).value == 0.0


def test_setup_errors_are_not_cached_even_for_a_cacheable_backend(tmp_path: Path) -> None:
    class Cached(EndpointBackend):
        def cache_key(self) -> str:
            return "endpoint|cached-for-this-test"

    cache = SmokeCache(tmp_path / "c")
    backend = Cached("http://127.0.0.1:9/v1", "m", **FAST)
    result = run_suite(backend, SETTINGS, cache=cache, fingerprint="m")
    assert result.setup_error
    assert not (cache.root / "results").exists()


# ------------------------------------------------- recommend: every format, causes whole
REQ = """
[use_case]
name = "integrity"
[hardware]
cpu_only = true
ram_gb = 64
[smoke]
timeout_s = 20
[[smoke.endpoints]]
model_id = "qwen3-30b-a3b"
base_url = "http://127.0.0.1:9/v1"
served_model = "Qwen/Qwen3-30B-A3B"
api_key_env = "{var}"
"""
# under the 64 characters a variable name may have (a longer value reads like a key), yet
# the line that names it runs past 80 columns
LONG_VAR = "SELECTOR_THIS_VARIABLE_NAME_IS_LONG_ENOUGH_FOR_A_WIDE_LINE"


@pytest.mark.parametrize("fmt", ["json", "table", "markdown"])
def test_recommend_setup_error_no_penalty_no_zeros_cause_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.delenv(LONG_VAR, raising=False)
    req = tmp_path / "req.toml"
    req.write_text(REQ.format(var=LONG_VAR), encoding="utf-8")
    result = runner.invoke(
        app,
        ["recommend", str(req), "--format", fmt, "--no-bundled-model"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code in (0, 1), result.output
    cause = f"environment variable {LONG_VAR} (API key) is not set"
    # stderr is not a terminal here: the progress line carries the cause whole, not cut
    assert cause in result.stderr, result.stderr
    if fmt == "json":
        report = json.loads(result.stdout)
        (cand,) = [c for c in report["candidates"] if c["id"] == "qwen3-30b-a3b"]
        smoke = cand["smoke"]
        assert smoke["setup_error"] is True and smoke["status"] == "error"
        assert smoke["decode_tokens_per_s"] is None and smoke["peak_rss_gb"] is None
        assert cand["score_breakdown"]["smoke"] == UNTESTED_SMOKE_SCORE
        assert cause in cand["score_breakdown"]["why"]["smoke"]
    else:
        text = " ".join(result.stdout.split())  # the table wraps long lines
        assert "0.0 tokens/s" not in text and "0.00 GB" not in text
        if fmt == "table":
            assert "qwen3-30b-a3b: not run, no penalty: environment variable" in text
        else:
            # Markdown escapes the underscores of the variable's name like any outside text
            assert "the run could not start" in text and md(cause) in text


def test_endpoint_run_many_keeps_setup_errors_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELECTOR_UNSET_KEY", raising=False)
    with fault_server("ok", answers=ANSWERS) as server:
        jobs = [
            SmokeJob("keyless", EndpointBackend(server.base_url, "fake-model", **FAST)),
            SmokeJob(
                "unset",
                EndpointBackend(
                    server.base_url, "fake-model", api_key_env="SELECTOR_UNSET_KEY", **FAST
                ),
            ),
        ]
        results = run_many(jobs, SETTINGS, use_cache=False)
    assert not results["keyless"].setup_error and results["unset"].setup_error
