"""stdout closed early (`selector ... | head -1`): exit 141 quietly, no traceback, no
"Exception ignored ... BrokenPipeError", and files written with --output are whole (issue 17).

Each case runs the real console entry point in a subprocess whose stdout is a pipe the test
closes: before selector writes anything ("closed", as `| true`), or after the first line
("line", as `| head -1`, with more output than a pipe holds so the next write must fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selector.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
SERVER = str(ROOT / "examples" / "multi-gpu-server.toml")


def _env() -> dict[str, str]:
    # PYTHONUNBUFFERED changes how CPython writes stdout (a short write into a closed pipe is
    # dropped without an error); users run selector buffered, as here
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["COLUMNS"] = "80"
    return env


def _run_into_closed_pipe(args: list[str], *, read_first_line: bool) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "selector", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    if read_first_line:
        assert proc.stdout.readline()
    proc.stdout.close()
    try:
        err = proc.stderr.read().decode(errors="replace")
        return proc.wait(timeout=120), err
    finally:
        proc.kill()


@pytest.mark.parametrize(
    "args",
    [
        ["catalog", "gpus"],  # was: exit 120, "Exception ignored ... BrokenPipeError"
        ["catalog", "list", "--format", "json"],  # was: exit 1 (click's own EPIPE catch)
        ["hardware"],  # a Rich console on stdout: was exit 1 from Rich's own handler
        ["recommend", SERVER, "--no-smoke"],
        ["--help"],
    ],
    ids=lambda a: " ".join(Path(x).name for x in a),
)
def test_stdout_closed_before_any_write_exits_141_quietly(args: list[str]) -> None:
    code, err = _run_into_closed_pipe(args, read_first_line=False)
    assert err == "", err
    assert code == ExitCode.BROKEN_PIPE == 141


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_head_1_on_a_long_report_exits_141_quietly(fmt: str) -> None:
    """The report is far longer than a pipe holds (64 KiB), so a write after `head -1` left
    must meet the closed pipe."""
    code, err = _run_into_closed_pipe(
        ["recommend", SERVER, "--no-smoke", "--format", fmt], read_first_line=True
    )
    assert err == "", err
    assert code == 141


def test_a_reader_that_reads_everything_still_gets_exit_0() -> None:
    """The exit code says the pipe broke, not that stdout was a pipe."""
    proc = subprocess.run(
        [sys.executable, "-m", "selector", "catalog", "gpus"],
        capture_output=True,
        env=_env(),
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout


def test_no_survivor_keeps_exit_1_distinct_from_a_broken_pipe(tmp_path: Path) -> None:
    req = tmp_path / "none.toml"
    req.write_text("[hardware]\nram_gb = 1\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "selector", "recommend", str(req), "--no-smoke"],
        capture_output=True,
        env=_env(),
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == ExitCode.NONE_SURVIVES, proc.stderr
    code, err = _run_into_closed_pipe(["recommend", str(req), "--no-smoke"], read_first_line=False)
    assert (code, err) == (141, "")


def test_output_file_is_whole_when_stdout_is_closed(tmp_path: Path) -> None:
    """--output never goes through stdout: a closed stdout neither cuts the file nor fails."""
    out = tmp_path / "report.json"
    code, err = _run_into_closed_pipe(
        ["recommend", SERVER, "--no-smoke", "--format", "json", "--output", str(out)],
        read_first_line=False,
    )
    assert (code, err) == (0, "")
    assert json.loads(out.read_text(encoding="utf-8"))["schema_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left
