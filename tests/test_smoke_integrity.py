"""Evidence integrity of local smoke runs: the busy-machine verdict, what is cached, the
machine-wide lock, the memory bound and n_ctx cap, setup errors, and the smoke seam."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from selector.ranking import UNTESTED_SMOKE_SCORE, smoke_term
from selector.smoke import lock
from selector.smoke.cache import SmokeCache
from selector.smoke.contention import busy_verdict, judge_speed
from selector.smoke.interface import SmokeResult, SmokeSettings, SmokeStatus
from selector.smoke.limits import GIB, MAX_N_CTX, cap_n_ctx, memory_limit
from selector.smoke.llamacpp import LlamaCppBackend
from selector.smoke.runner import cacheable, run_suite

REPO = Path(__file__).resolve().parents[1]
SETTINGS = SmokeSettings(n_ctx=512, threads=1, max_tokens=4, timeout_s=60)


def _window(others_s: float, wall_s: float = 1.0, steal_s: float = 0.0) -> dict[str, float]:
    return {"wall_s": wall_s, "others_s": others_s, "steal_s": steal_s}


# ----------------------------------------------------------------- the busy verdict
def test_a_whole_core_taken_by_others_is_busy() -> None:
    # two recommend runs measuring at once: the other one took a core (issue 17's 9 vs 42 tok/s)
    busy, detail = busy_verdict([_window(1.0), _window(0.9)], logical_cpus=2)
    assert busy is True
    assert "other processes used 0.95 of 2 CPUs" in detail and "busy above 0.25" in detail


def test_a_quiet_machine_is_not_busy_and_the_limit_scales_with_the_cpus() -> None:
    assert busy_verdict([_window(0.1)], logical_cpus=2)[0] is False
    assert busy_verdict([_window(1.5)], logical_cpus=32)[0] is False  # 1.5 of 32 CPUs
    assert busy_verdict([_window(4.0)], logical_cpus=32)[0] is True


def test_hypervisor_steal_counts_as_busy() -> None:
    assert busy_verdict([_window(0.0, steal_s=0.3)], logical_cpus=2)[0] is True


def test_nothing_measured_is_unknown_not_quiet() -> None:
    assert busy_verdict([], logical_cpus=2)[0] is None


def test_too_short_or_busy_speed_is_reported_but_not_usable() -> None:
    short = judge_speed([40.0, 41.0, 42.0], [90.0], 16, warmup="", where="x", busy=False,
                        busy_detail="")  # fmt: skip
    assert not short.usable and "decoded 16 tokens, fewer than the 64" in short.why_not_usable
    busy = judge_speed([9.0], [90.0], 64, warmup="", where="x", busy=True, busy_detail="load")
    assert not busy.usable and "the machine was busy (load)" in busy.why_not_usable
    good = judge_speed([40.0, 44.0, 42.0], [90.0], 64, warmup="", where="x", busy=False,
                       busy_detail="")  # fmt: skip
    assert good.usable and good.spread == pytest.approx(4 / 42)


# ------------------------------------------------------------------- what is cached
class _LocalBackend:
    """A local (not parallel-safe) backend whose result is given, for the cache policy."""

    name = "given"
    parallel_safe = False

    def __init__(self, result: SmokeResult) -> None:
        self.result = result
        self.runs = 0
        self.started_at = 0.0

    def cache_key(self) -> str:
        return "given|model"

    def resolve(self, settings: SmokeSettings) -> SmokeSettings:
        return settings

    def run(self, settings: SmokeSettings) -> SmokeResult:
        self.runs += 1
        self.started_at = time.monotonic()
        return self.result


def _passed(busy: bool | None) -> SmokeResult:
    speed = judge_speed([1.5], [900.0], 64, warmup="", where="this machine", busy=busy,
                        busy_detail="other processes used 1.40 of 2 CPUs")  # fmt: skip
    return SmokeResult(status=SmokeStatus.PASSED, decode_tokens_per_s=1.5, speed=speed)


def test_a_contended_measurement_is_not_cached_a_quiet_one_is(tmp_path: Path) -> None:
    cache = SmokeCache(tmp_path / "c")
    contended = _LocalBackend(_passed(busy=True))
    run_suite(contended, SETTINGS, cache=cache, fingerprint="m")
    second = run_suite(contended, SETTINGS, cache=cache, fingerprint="m")
    assert contended.runs == 2 and not second.cached  # measured again, never the cached 1.5
    quiet = _LocalBackend(_passed(busy=False))
    run_suite(quiet, SETTINGS, cache=cache, fingerprint="m")
    assert run_suite(quiet, SETTINGS, cache=cache, fingerprint="m").cached
    assert quiet.runs == 1


def test_setup_errors_are_not_cached_and_not_penalised() -> None:
    result = SmokeResult.error("x: no such file", setup=True)
    assert not cacheable(result)
    term = smoke_term(result)
    assert term.value == UNTESTED_SMOKE_SCORE and "x: no such file" in term.why


# ---------------------------------------------------------------- the machine lock
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from selector.smoke.lock import local_run_lock
    with local_run_lock():
        Path(sys.argv[1]).write_text("held")
        time.sleep(float(sys.argv[2]))
        Path(sys.argv[1] + ".released").write_text(repr(time.monotonic()))
    """
)


def _hold_lock(tmp_path: Path, seconds: float) -> tuple[subprocess.Popen[bytes], Path]:
    flag = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(flag), str(seconds)])
    deadline = time.monotonic() + 30
    while not flag.exists():
        assert time.monotonic() < deadline and holder.poll() is None, "holder did not start"
        time.sleep(0.05)
    return holder, flag


def test_local_runs_are_serialised_across_processes(tmp_path: Path) -> None:
    holder, flag = _hold_lock(tmp_path, 1.5)
    told: list[str] = []
    backend = _LocalBackend(_passed(busy=False))
    run_suite(backend, SETTINGS, cache=None, on_wait=told.append)
    assert holder.wait(timeout=30) == 0
    assert told == [f"waiting for another selector smoke run (pid {holder.pid}) to finish"]
    assert backend.runs == 1
    # it ran only once the other process let go (CLOCK_MONOTONIC is one clock per machine)
    released_at = float(Path(str(flag) + ".released").read_text())
    assert backend.started_at >= released_at


def test_a_lock_held_too_long_is_a_setup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder, _ = _hold_lock(tmp_path, 5)
    monkeypatch.setattr(lock, "DEFAULT_WAIT_S", 0.3)
    try:
        result = run_suite(_LocalBackend(_passed(busy=False)), SETTINGS, cache=None)
    finally:
        holder.kill()
        holder.wait()
    assert result.setup_error and "held" in result.reason and "for over 0.3 s" in result.reason


def test_endpoints_do_not_take_the_local_lock(tmp_path: Path) -> None:
    holder, _ = _hold_lock(tmp_path, 5)
    backend = _LocalBackend(_passed(busy=False))
    backend.parallel_safe = True
    try:
        started = time.monotonic()
        run_suite(backend, SETTINGS, cache=None, on_wait=lambda m: pytest.fail(m))
        assert time.monotonic() - started < 2
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------- memory bound and n_ctx cap
def test_default_memory_bound_comes_from_available_ram_less_the_file() -> None:
    limit, note = memory_limit(None, file_bytes=1 * GIB, available_bytes=10 * GIB)
    assert limit == pytest.approx(0.85 * 10 - 1)
    assert "85% of the 10.0 GiB available RAM less the 1.00 GiB model file" in note
    assert memory_limit(None, file_bytes=9 * GIB, available_bytes=10 * GIB)[0] == 2.0
    assert memory_limit(3.5, file_bytes=9 * GIB)[0] == 3.5


def test_n_ctx_is_capped_at_the_trained_context_and_selectors_cap() -> None:
    assert cap_n_ctx(2048, 4096) == (2048, None)
    n, note = cap_n_ctx(10**12, 32768)
    assert n == 32768 and note == (
        "n_ctx 1,000,000,000,000 capped to 32,768: the model's trained context (32,768 tokens)"
    )
    assert cap_n_ctx(10**9, None)[0] == MAX_N_CTX


# --------------------------------------------------------------- setup errors, locally
def test_a_missing_file_is_a_setup_error(tmp_path: Path) -> None:
    result = LlamaCppBackend(tmp_path / "gone.gguf").run(SETTINGS)
    assert result.setup_error and result.reason.endswith("gone.gguf: no such file")
    assert result.decode_tokens_per_s is None and result.peak_rss_gb is None


# ------------------------------------------------------------------------ the seam
def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_smoke_does_not_import_filtering_ranking_or_the_pipeline() -> None:
    banned = ("selector.filtering", "selector.ranking", "selector.pipeline")
    for path in sorted((REPO / "selector" / "smoke").glob("*.py")):
        bad = [m for m in _imports(path) if m.startswith(banned)]
        assert not bad, f"{path.name} imports {bad}"
    code = (
        "import sys\n"
        "import selector.smoke.jobs, selector.smoke.runner, selector.smoke.llamacpp\n"
        "import selector.smoke.endpoint\n"
        "assert 'selector.filtering' not in sys.modules, 'filtering was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_smoke_plan_is_frozen_options_and_progress_is_a_protocol() -> None:
    from selector.pipeline import SmokePlan, SmokeProgress
    from selector.smoke.cli import SmokeProgressLines

    plan = SmokePlan(use_cache=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.enabled = False
    assert {f.name for f in dataclasses.fields(plan)} == {
        "enabled",
        "models_dir",
        "use_cache",
        "include_demo",
        "discover",  # weights: look in the tool caches too
        "fetched",  # what --fetch-top downloaded, an input to the stage
        "fetch_failures",
    }  # options only: no callbacks, no outputs (run_smoke_stage returns those)
    for method in ("started", "waiting", "finished"):
        assert callable(getattr(SmokeProgress, method))
        assert callable(getattr(SmokeProgressLines, method))


def test_the_smoke_runner_loads_without_fit_or_filtering() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json, selector.smoke.runner; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('selector.'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(out.stdout)
    assert not [m for m in loaded if m.startswith(("selector.filtering", "selector.fit"))]
