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
from selector.smoke.discovery import GGUFFormatError, GGUFInfo, guess_tuning, read_gguf_metadata
from selector.smoke.interface import ProbeOutcome, SmokeResult, SmokeSettings
from selector.smoke.probes import SUITE_VERSION
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
        base = {
            "backend": self.name,
            "threads": threads,
            "n_ctx": settings.n_ctx,
            "suite_version": SUITE_VERSION,
            "llama_cpp_version": llama_cpp_version(),
        }
        try:
            info = self.info()
            sha = file_sha256(self.model_path)
        except (GGUFFormatError, OSError) as exc:
            reason = str(exc) if isinstance(exc, GGUFFormatError) else f"cannot read: {exc}"
            return SmokeResult.error(reason, **base)
        base.update(model_sha256=sha, quantization=info.quantization)
        try:
            report, cause = self._spawn(settings, threads)
        except OSError as exc:
            return SmokeResult.error(f"could not start the smoke child: {exc}", **base)
        base["wall_time_s"] = round(time.perf_counter() - started, 3)
        return self._result(report, cause, base, settings)

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
            }
            with log_path.open("wb") as log:
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
                except BaseException:  # Ctrl-C: its own session would outlive us otherwise
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
            key: float(report[key])
            for key in (
                "load_time_s",
                "decode_tokens_per_s",
                "prefill_tokens_per_s",
                "time_to_first_token_ms",
                "peak_rss_gb",
            )
            if isinstance(report.get(key), (int, float))
        }
        fields = {**base, **{k: round(v, 4) for k, v in measured.items()}}
        if report.get("llama_cpp_version"):
            fields["llama_cpp_version"] = report["llama_cpp_version"]
        if isinstance(report.get("n_ctx"), int):
            fields["n_ctx"] = report["n_ctx"]
        if isinstance(report.get("prompt_tokens"), (int, float)):
            fields["prompt_tokens"] = int(report["prompt_tokens"])
            fields["speed_tokens"] = int(report.get("speed_tokens", 0))
        probes = [ProbeOutcome.model_validate(p) for p in report.get("probes", [])]
        summary = summarize(probes, settings)
        fields.update(probes=probes, **summary.fields())
        if cause or report.get("error"):
            stage = report.get("stage", "")
            where = f" (while {_STAGES.get(stage, stage)})" if stage and stage != "done" else ""
            return SmokeResult.error((cause or report["error"]) + where, **fields)
        return SmokeResult(status=summary.status, reason=summary.reason, **fields)


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
            cause += f" (possibly out of memory under the {settings.memory_limit_gb:g} GiB limit)"
        return cause
    return f"exited with status {code}"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
