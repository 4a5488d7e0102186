"""Hostile files, paths and numbers (issue 17): paths are what they claim, numbers are finite
and sane, no secret is echoed, N problems are reported in linear time, and every message says
what happened (file:line:col, BOM, FIFO, directory)."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.catalog.checks import validate_catalog
from selector.catalog.loader import builtin_catalog_dir
from selector.cli import app
from selector.errors import RequirementsError
from selector.requirements import load_requirements

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "server-strict-license.toml"


def _recommend(*args: str):
    return runner.invoke(app, ["recommend", *args])


# -- paths: read regular files only, with a size cap -----------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "oversized"])
def test_a_requirements_path_that_is_not_a_small_regular_file_is_refused_at_once(
    tmp_path: Path, kind: str
) -> None:
    if kind == "fifo":
        path = tmp_path / "req.toml"
        os.mkfifo(path)  # a reader of a FIFO with no writer waits forever
        expected = "FIFO"
    elif kind == "dev-zero":
        path, expected = Path("/dev/zero"), "character device"  # endless: memory runs out
    elif kind == "directory":
        path, expected = tmp_path, "directory"
    else:
        path = tmp_path / "big.toml"
        with path.open("wb") as fh:  # sparse: 17 MiB of nothing, costs no disk
            fh.truncate(17 * 2**20)
        expected = "larger than 16 MiB"
    started = time.monotonic()
    result = _recommend(str(path), "--no-smoke")
    assert time.monotonic() - started < 20
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_a_bom_gets_a_hint_and_utf16_is_named(tmp_path: Path) -> None:
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf[use_case]\nname = 'x'\n")
    utf16 = tmp_path / "utf16.toml"
    utf16.write_bytes("[use_case]\n".encode("utf-16"))
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[use_case]\nname = 'caf\xe9'\n")
    assert "byte-order mark (BOM)" in _recommend(str(bom), "--no-smoke").stderr
    assert "UTF-16" in _recommend(str(utf16), "--no-smoke").stderr
    assert f"{latin}:2:" in _recommend(str(latin), "--no-smoke").stderr


def test_catalog_syntax_errors_read_file_line_col(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[model]]\nid = "x"\nname = \n', encoding="utf-8")
    report = validate_catalog([bad])
    lines = [line for line in report.lines() if str(bad) in line]
    assert lines and lines[0].startswith(f"{bad}:3:8: TOML syntax error")


def test_a_1000_deep_array_in_a_catalog_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("[[gpu]]\naliases = " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    report = validate_catalog([deep])
    assert any("nested too deep" in line for line in report.lines())
    result = runner.invoke(app, ["catalog", "validate", str(deep)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_fifo_as_catalog_or_smoke_model_is_named_as_such(tmp_path: Path) -> None:
    fifo = tmp_path / "x.gguf"
    os.mkfifo(fifo)
    smoke = runner.invoke(app, ["smoke", str(fifo)])
    assert smoke.exit_code == 2 and "FIFO" in smoke.stderr and "no such file" not in smoke.stderr
    folder = runner.invoke(app, ["smoke", str(tmp_path)])
    assert folder.exit_code == 2 and "is a directory" in folder.stderr
    validate = runner.invoke(app, ["catalog", "validate", str(fifo)])
    assert validate.exit_code == 2 and "FIFO" in validate.stderr


# -- --output: what the user means, checked before the run -----------------------------------


def test_output_into_a_missing_directory_fails_before_the_run(tmp_path: Path) -> None:
    from endpoint_fault_server import fault_server

    with fault_server("hang-before-headers", hang_s=60) as server:
        req = tmp_path / "req.toml"
        req.write_text(
            f'[[smoke.endpoints]]\nmodel_id = "qwen3-30b-a3b"\nbase_url = "{server.base_url}"\n'
            'served_model = "m"\n',
            encoding="utf-8",
        )
        started = time.monotonic()
        result = _recommend(str(req), "--no-bundled-model", "-o", str(tmp_path / "no" / "r.md"))
        assert server.paths == [] and server.posts == []  # nothing was smoke-tested
    assert time.monotonic() - started < 20
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_output_to_a_directory_is_one_line(tmp_path: Path) -> None:
    result = _recommend(str(EXAMPLE), "--no-smoke", "-o", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_output_keeps_an_existing_files_mode_and_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    link = tmp_path / "latest.md"
    link.symlink_to(target)
    result = _recommend(str(EXAMPLE), "--no-smoke", "-f", "markdown", "-o", str(link))
    assert result.exit_code in (0, 1), result.output
    assert link.is_symlink()  # the link stays a link
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text(encoding="utf-8").startswith("# Model selection checklist")


def test_output_through_a_fifo_and_a_proc_fd_link_writes_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _recommend(str(EXAMPLE), "--no-smoke", "-f", "json", "-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code in (0, 1), result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # never replaced by a regular file
    assert got and got[0].startswith(b"{")

    read_end, write_end = os.pipe()
    link = f"/proc/self/fd/{write_end}"
    if not os.path.exists(link):
        pytest.skip("no /proc/self/fd here")
    piped: list[bytes] = []
    drain = threading.Thread(target=lambda: piped.append(os.fdopen(read_end, "rb").read()))
    drain.start()  # the report is larger than a pipe's buffer: read while it is written
    try:
        result = _recommend(str(EXAMPLE), "--no-smoke", "-f", "json", "-o", link)
    finally:
        os.close(write_end)
        drain.join(timeout=30)
    assert result.exit_code in (0, 1), result.output
    assert piped and piped[0].startswith(b"{")


def test_output_onto_a_device_node_writes_through_or_fails_in_one_line(tmp_path: Path) -> None:
    # through symlinks in tmp_path, so a regression replaces the link, never the device
    null, full = tmp_path / "null", tmp_path / "full"
    null.symlink_to("/dev/null")
    full.symlink_to("/dev/full")
    ok = _recommend(str(EXAMPLE), "--no-smoke", "-o", str(null))
    assert ok.exit_code in (0, 1), ok.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    failed = _recommend(str(EXAMPLE), "--no-smoke", "-o", str(full))
    assert failed.exit_code == 2
    assert "No space left on device" in failed.stderr
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_file_size_limit_is_a_one_line_error_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "report.md"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    args = ["recommend", str(EXAMPLE), "--no-smoke", "-f", "markdown", "-o", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "selector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SELECTOR_CACHE_DIR": str(tmp_path / "cache")},
        preexec_fn=limit,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "File too large" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".report.md.*"))  # no temporary file left behind


# -- numbers and secrets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("layers", "1000000000000", "less than or equal to 10000"),
        ("params_b", "inf", "finite number"),
        ("context_tokens", "99999999999", "less than or equal to"),
    ],
)
def test_catalog_numbers_are_bounded(tmp_path: Path, field: str, value: str, words: str) -> None:
    text = (builtin_catalog_dir() / "models" / "gemma-3.toml").read_text(encoding="utf-8")
    start = text.index("[[model]]")
    entry = text[start : text.index("[[model]]", start + 1)]
    entry = entry.replace('id = "gemma-3-270m"', 'id = "bounded-test"', 1)
    lines = [
        f"{field} = {value}" if line.startswith(f"{field} =") else line
        for line in entry.splitlines()
    ]
    private = tmp_path / "bounded.toml"
    private.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_catalog([private])
    mine = [line for line in report.lines() if str(private) in line]
    assert any(f"model[0].{field}" in line and words in line for line in mine), mine


@pytest.mark.parametrize(
    "key",
    [
        "sk-proj-Abc123Def456Ghi789Jkl012Mno345",
        "a9f3c2e17b4d60885e2f1c9d3b7a6e40",
        "hf_" + "Q" * 34,
    ],
)
def test_a_key_given_as_api_key_env_is_never_printed(tmp_path: Path, key: str) -> None:
    req = tmp_path / "req.toml"
    req.write_text(
        '[[smoke.endpoints]]\nmodel_id = "qwen3-30b-a3b"\nbase_url = "http://127.0.0.1:9/v1"\n'
        f'served_model = "m"\napi_key_env = "{key}"\n',
        encoding="utf-8",
    )
    with pytest.raises(RequirementsError) as info:
        load_requirements(req)
    assert key not in str(info.value) and key[:12] not in str(info.value)
    result = _recommend(str(req), "--no-bundled-model", "-f", "json")
    smoke = runner.invoke(
        app, ["smoke", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--api-key-env", key]
    )
    for run in (result, smoke):
        assert run.exit_code == 2
        assert key not in run.output and key[:12] not in run.output


def test_a_base_url_with_credentials_never_reaches_the_report(tmp_path: Path) -> None:
    req = tmp_path / "req.toml"
    req.write_text(
        '[[smoke.endpoints]]\nmodel_id = "qwen3-30b-a3b"\n'
        'base_url = "http://admin:Tr0ub4dor3@gpu-box:8000/v1"\nserved_model = "m"\n',
        encoding="utf-8",
    )
    result = _recommend(str(req), "--no-smoke", "-f", "json")
    assert result.exit_code == 2
    assert "Tr0ub4dor3" not in result.output and "credentials" in result.stderr


# -- N problems in linear time ----------------------------------------------------------------


def test_3000_duplicate_ids_and_5000_bad_gpus_are_reported_quickly(tmp_path: Path) -> None:
    """It took over 600 s and 100-160 s: a file scan per problem. Generous bound: 60 s both."""
    text = (builtin_catalog_dir() / "models" / "gemma-3.toml").read_text(encoding="utf-8")
    start = text.index("[[model]]")
    entry = text[start : text.index("[[model]]", start + 1)]
    (tmp_path / "dups.toml").write_text(entry * 3000, encoding="utf-8")
    gpu = (
        '[[gpu]]\nid = "bad gpu {i}"\nmodel = "X"\nvendor = "v"\nsegment = "nope"\n'
        "vram_gb = -1\nbandwidth_gb_s = 0\nsources = []\n"
    )
    (tmp_path / "gpus.toml").write_text("".join(gpu.format(i=i) for i in range(5000)), "utf-8")
    started = time.monotonic()
    dups = validate_catalog([tmp_path / "dups.toml"])
    gpus = validate_catalog([tmp_path / "gpus.toml"])
    elapsed = time.monotonic() - started
    assert sum("duplicate model id" in p for p in dups.lines()) == 3000
    assert sum("bad gpus.toml" in p or "gpus.toml:" in p for p in gpus.lines()) >= 5000
    assert elapsed < 60, f"{elapsed:.0f} s"
    # every duplicate names its own line, and the first definition's
    assert len({p.split(": duplicate")[0] for p in dups.lines() if "duplicate" in p}) == 3000
