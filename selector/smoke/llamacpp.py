"""The llama.cpp smoke backend: one GGUF file tested in a child process, bounded in time and memory.

The parent never imports llama_cpp: it checks the file, starts `python -m selector.smoke.child`,
kills it when the time limit passes, and turns the child's report (or its death) into a
`SmokeResult`. A crash, hang or out-of-memory is that candidate's `error`, with the cause.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import cache
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from selector.smoke.cache import file_sha256
from selector.smoke.contention import busy_verdict, judge_speed
from selector.smoke.discovery import GGUFFormatError, GGUFInfo, guess_tuning, read_gguf_metadata
from selector.smoke.interface import ProbeOutcome, SmokeResult, SmokeSettings, SpeedEvidence
from selector.smoke.limits import cap_n_ctx, memory_limit
from selector.smoke.probes import SUITE_VERSION
from selector.smoke.signals import terminate_on_signals
from selector.smoke.verdict import summarize
from selector.vocab import Tuning

_LOG_TAIL = 600


@cache
def llama_cpp_version() -> str:
    """The installed llama-cpp-python version, read without importing (and loading) llama.cpp."""
    try:
        return importlib_metadata.version("llama_cpp_python")
    except importlib_metadata.PackageNotFoundError:
        return ""


def default_threads() -> int:
    """Physical cores, as llama.cpp's own default; the speed of a decode is memory-bound."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-4:])[-_LOG_TAIL:]


def _log_errors(path: Path) -> str:
    """The last lines of llama.cpp's log that say what went wrong."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    bad = [
        ln.strip()
        for ln in text.splitlines()
        if any(w in ln.lower() for w in ("error", "failed", "exception", "invalid"))
    ]
    return " | ".join(dict.fromkeys(bad[-3:]))[-_LOG_TAIL:]


class LlamaCppBackend:
    """Runs the probe suite on a local GGUF through llama-cpp-python (SmokeBackend)."""

    name = "llama.cpp"
    parallel_safe = False

    def __init__(self, model_path: Path, *, tuning: Tuning | None = None) -> None:
        self.model_path = Path(model_path).expanduser()
        self.requested_tuning = tuning
        self._info: GGUFInfo | None = None

    def info(self) -> GGUFInfo:
        """The file's GGUF header (raises GGUFFormatError for a file llama.cpp cannot load)."""
        if self._info is None:
            if not self.model_path.is_file():
                raise GGUFFormatError(f"{self.model_path}: no such file")
            self._info = read_gguf_metadata(self.model_path)
        return self._info

    @property
    def tuning(self) -> Tuning:
        """As asked, else guessed from the file's metadata (base when nothing says instruct)."""
        if self.requested_tuning is not None:
            return self.requested_tuning
        try:
            return guess_tuning(self.info())
        except GGUFFormatError:
            return Tuning.BASE

    def cache_key(self) -> str | None:
        try:
            sha = file_sha256(self.model_path)
        except OSError:
            return None
        return f"llama.cpp|{sha}|{self.tuning.value}|{llama_cpp_version()}"

    def resolve(self, settings: SmokeSettings) -> SmokeSettings:
        """The settings as this backend runs them: the default thread count made explicit."""
        if settings.threads is None:
            return settings.model_copy(update={"threads": default_threads()})
        return settings

    def run(self, settings: SmokeSettings) -> SmokeResult:
        started = time.perf_counter()
        threads = settings.threads or default_threads()
        base: dict[str, Any] = {
            "backend": self.name,
            "threads": threads,
            "n_ctx": settings.n_ctx,
            "suite_version": SUITE_VERSION,
            "llama_cpp_version": llama_cpp_version(),
        }
        if not self.model_path.is_file():  # the run's problem (a path), not the model's
            what = "not a regular file" if self.model_path.exists() else "no such file"
            return SmokeResult.error(f"{self.model_path}: {what}", setup=True, **base)
        try:
            info = self.info()
            sha = file_sha256(self.model_path)
            size = self.model_path.stat().st_size
        except GGUFFormatError as exc:
            return SmokeResult.error(str(exc), **base)
        except OSError as exc:
            return SmokeResult.error(f"cannot read: {exc}", setup=True, **base)
        notes: list[str] = []
        n_ctx, capped = cap_n_ctx(settings.n_ctx, info.context_length)
        if capped:
            notes.append(capped)
        limit_gb, limit_note = memory_limit(settings.memory_limit_gb, size)
        notes.append(limit_note)
        run_settings = settings.model_copy(update={"n_ctx": n_ctx, "memory_limit_gb": limit_gb})
        base.update(
            model_sha256=sha,
            quantization=info.quantization,
            n_ctx=n_ctx,
            memory_limit_gb=limit_gb,
            notes=notes,
        )
        try:
            report, cause = self._spawn(run_settings, threads)
        except OSError as exc:
            return SmokeResult.error(f"could not start the smoke child: {exc}", setup=True, **base)
        base["wall_time_s"] = round(time.perf_counter() - started, 3)
        return self._result(report, cause, base, run_settings)

    def _spawn(self, settings: SmokeSettings, threads: int) -> tuple[dict[str, Any], str]:
        """Run the child to completion or kill; the child's report and, if it died, why."""
        with tempfile.TemporaryDirectory(prefix="selector-smoke-") as tmp:
            result_path = Path(tmp) / "result.json"
            log_path = Path(tmp) / "child.log"
            request = {
                "model_path": str(self.model_path),
                "settings": settings.model_dump(mode="json"),
                "threads": threads,
                "tuning": self.tuning.value,
                "suite": settings.suite.model_dump(mode="json"),
                "result_path": str(result_path),
                "parent_pid": os.getpid(),
            }
            with log_path.open("wb") as log, terminate_on_signals():
                proc = subprocess.Popen(
                    [sys.executable, "-m", "selector.smoke.child"],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, killed as one
                )
                assert proc.stdin is not None
                try:
                    proc.stdin.write(json.dumps(request).encode())
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
                cause = ""
                try:
                    code = proc.wait(timeout=settings.timeout_s)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    code = None
                    cause = f"timed out after {settings.timeout_s:g} s"
                except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: its session would outlive us
                    _kill_group(proc)
                    raise
            report: dict[str, Any] = {}
            try:
                report = json.loads(result_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                report = {}
            if report.get("error") and report.get("stage") == "load":
                logged = _log_errors(log_path)
                if logged:
                    report["error"] += f"; llama.cpp said: {logged}"
            if not cause and code != 0:
                cause = _death_cause(code, settings)
                tail = _tail(log_path)
                if tail:
                    cause += f"; last output: {tail}"
            elif not cause and not report:
                cause = f"the child exited without a report; last output: {_tail(log_path)}"
            return report, cause

    def _result(
        self,
        report: dict[str, Any],
        cause: str,
        base: dict[str, Any],
        settings: SmokeSettings,
    ) -> SmokeResult:
        measured = {
            key: round(float(report[key]), 4)
            for key in (
                "load_time_s",
                "decode_tokens_per_s",
                "prefill_tokens_per_s",
                "time_to_first_token_ms",
                "peak_rss_gb",
            )
            if isinstance(report.get(key), (int, float)) and report[key] > 0
        }
        fields = {**base, **measured}
        if report.get("llama_cpp_version"):
            fields["llama_cpp_version"] = report["llama_cpp_version"]
        if isinstance(report.get("n_ctx"), int):
            fields["n_ctx"] = report["n_ctx"]
        if isinstance(report.get("prompt_tokens"), (int, float)):
            fields["prompt_tokens"] = int(report["prompt_tokens"])
            fields["speed_tokens"] = int(report.get("speed_tokens", 0))
        runs = [r for r in report.get("speed_runs") or [] if isinstance(r, dict)]
        if runs:
            fields["speed"] = _speed_evidence(runs, report, settings)
        probes = [ProbeOutcome.model_validate(p) for p in report.get("probes", [])]
        summary = summarize(probes, settings)
        fields.update(probes=probes, **summary.fields())
        if cause or report.get("error"):
            stage = report.get("stage", "")
            where = f" (while {_STAGES.get(stage, stage)})" if stage and stage != "done" else ""
            return SmokeResult.error((cause or report["error"]) + where, **fields)
        return SmokeResult(status=summary.status, reason=summary.reason, **fields)


def _speed_evidence(
    runs: list[dict[str, Any]], report: dict[str, Any], settings: SmokeSettings
) -> SpeedEvidence:
    """Judge the child's timed runs: enough tokens, and a machine that was not busy."""
    import psutil

    overall = report.get("contention")
    windows = [overall] if isinstance(overall, dict) else runs
    busy, detail = busy_verdict(windows, psutil.cpu_count() or os.cpu_count() or 1)
    return judge_speed(
        [float(r.get("decode_tokens_per_s", 0.0)) for r in runs],
        [float(r.get("time_to_first_token_ms", 0.0)) for r in runs],
        int(report.get("speed_tokens") or 0),
        warmup=str(report.get("warmup", "")),
        where="this machine",
        busy=busy,
        busy_detail=detail,
    )


_STAGES = {
    "start": "starting",
    "load": "loading the model",
    "loaded": "measuring speed",
    "probes": "running probes",
}


def _death_cause(code: int | None, settings: SmokeSettings) -> str:
    if code is None:
        return "killed"
    if code < 0:
        cause = f"crashed with {_signal_name(-code)}"
        if settings.memory_limit_gb and -code in (signal.SIGABRT, signal.SIGSEGV, signal.SIGKILL):
            limit = settings.memory_limit_gb
            cause += f" (possibly out of memory under the {limit:.3g} GiB limit)"
        return cause
    return f"exited with status {code}"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
