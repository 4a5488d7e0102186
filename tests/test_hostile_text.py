"""Text from outside is never markup or terminal control (issue 17): reasons from servers,
served names, answers, GPU names, catalog names, file names and use_case.name reach every
format as text, with Rich markup and Markdown escaped and control characters made visible."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from endpoint_fault_server import fault_server
from support.gguf_models import make_tiny_gguf
from typer.testing import CliRunner

from selector.cli import app
from selector.smoke.cancel import reset_cancel
from selector.textsafe import clean, markup, md, md_code, one_line

runner = CliRunner()
FORMATS = ("table", "markdown", "json")
ROOT = Path(__file__).resolve().parents[1]
ESC = "\x1b"
EVIL = (
    "boom [/x] [link=https://evil.example]click[/link] [bold red]" + ESC + "[2J" + ESC + "]0;t\x07"
)


def test_clean_makes_every_control_character_visible() -> None:
    text = "a" + ESC + "[31mred\x07\x9b\u202egnp.exe\r\n\t"
    shown = clean(text)
    assert ESC not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "\u202e" not in shown and "\r" not in shown and "\n" not in shown
    assert "\\x1b[31mred" in shown and "\\u202e" in shown
    assert clean("line one\nline two", newlines=True) == "line one\nline two"


def test_markdown_escaping_leaves_no_syntax_and_no_html() -> None:
    escaped = md("[click](javascript:x) <script>alert(1)</script> | *b* `c` _d_ ~~e~~ # f")
    # every syntax character is preceded by a backslash
    assert re.findall(r"(?<!\\)[\[\]<>|*`_~#]", escaped) == [], escaped
    assert "\\[click\\]" in escaped and "\\<script\\>" in escaped
    assert "`" not in md_code("a`b") and "\n" not in md("one\ntwo")


def test_rich_markup_is_escaped() -> None:
    from rich.text import Text

    assert Text.from_markup(markup("[/INST] [bold]x")).plain == "[/INST] [bold]x"
    assert one_line("a\n\nb", 10) == "a b"


PRIVATE = """
[[license]]
id = "evil-license"
name = "Evil [/x] License {esc}[31m[link=https://evil.example]terms[/link]"
osi_approved = false
commercial_use = true
url = "https://example.com/license"
sources = ["https://example.com/license"]

[[model]]
id = "acme-evil"
name = "Acme [bold]Evil{esc}[2J"
family = "acme"
organization = "[/] Acme {esc}]0;pwned\\u0007 Corp"
origin_country = "US"
release_date = 2026-01-01
params_b = 1
architecture = "dense"
layers = 2
context_tokens = 8192
license = "evil-license"
runtimes = ["llama.cpp", "vllm"]
gguf_arch = "llama"
sources = ["https://example.com/acme"]

[model.attention]
heads = 4
kv_heads = 2
head_dim = 16
""".replace("{esc}", "\\u001b")


def _check_rendered(text: str, fmt: str) -> None:
    assert ESC not in text, f"{fmt}: raw ESC reached the output"
    assert "\x07" not in text, f"{fmt}: raw BEL reached the output"


@pytest.fixture()
def hostile_setup(tmp_path: Path):
    reset_cancel()
    catalog = tmp_path / "private.toml"
    catalog.write_text(PRIVATE, encoding="utf-8")
    models = tmp_path / "models"
    # a file name with an ESC sequence and markup, matching no catalog entry
    make_tiny_gguf(models / f"{ESC}[31m[bold]evil[link=x].gguf", arch="nosucharch")
    with fault_server(
        "error-message", error_status=500, error_message=EVIL, served=["[/INST] served"]
    ) as server:
        req = tmp_path / "req.toml"
        req.write_text(
            '[use_case]\nname = "\\u001b[2J\\u001b]0;owned\\u0007 [bold]Team # *x* <b>"\n'
            "[hardware]\ncpu_only = true\nram_gb = 64\n"
            "[smoke]\ntimeout_s = 20\n"
            "[[smoke.endpoints]]\n"
            'model_id = "acme-evil"\n'
            f'base_url = "{server.base_url}"\n'
            'served_model = "[/INST] served"\n',
            encoding="utf-8",
        )
        yield req, catalog, models


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_recommend_renders_hostile_text_in_every_format(hostile_setup, fmt: str) -> None:
    req, catalog, models = hostile_setup
    result = runner.invoke(
        app,
        [
            "recommend",
            str(req),
            "--catalog",
            str(catalog),
            "--replace-catalog",
            "--models-dir",
            str(models),
            "--no-bundled-model",
            "-f",
            fmt,
        ],
    )
    assert result.exit_code in (0, 1), result.output
    assert "MarkupError" not in result.output and "Traceback" not in result.output
    out = result.stdout
    _check_rendered(out, fmt)
    if fmt == "json":
        report = json.loads(out)  # JSON escapes controls itself; the values are kept as given
        assert any("boom [/x]" in json.dumps(c) for c in report["candidates"] + report["excluded"])
        return
    assert "acme-evil" in out
    assert "evil[link=x].gguf" in out if fmt == "table" else "evil\\[link=x\\].gguf" in out
    if fmt == "table":
        # markup shown as the text it is, controls as escapes
        assert "[/x]" in out and "[link=https://evil.example]" in out
        assert "\\x1b[31m[bold]evil" in out
    else:
        assert "\\[/x\\]" in out and "\\<b\\>" in out
        assert not re.search(r"(?<!\\)\[link=", out) and not re.search(r"(?<!\\)<b>", out)
        assert "\\x1b\\[2J" in out  # use_case.name's ESC made visible, then escaped


def test_hostile_text_reaches_the_terminal_as_text(hostile_setup, tmp_path: Path) -> None:
    """A real terminal-coloured run (FORCE_COLOR): Rich's own styling is ANSI, theirs is not."""
    req, catalog, models = hostile_setup
    env = {**os.environ, "SELECTOR_CACHE_DIR": str(tmp_path / "c"), "FORCE_COLOR": "1"}
    args = ["recommend", str(req), "--catalog", str(catalog), "--replace-catalog"]
    args += ["--models-dir", str(models), "--no-bundled-model"]
    proc = subprocess.run(
        [sys.executable, "-m", "selector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    for stream in (proc.stdout, proc.stderr):
        assert "[2J" not in stream.replace("\\x1b[2J", "")  # never a raw clear-screen
        assert "]0;" not in stream.replace("\\x1b]0;", "")  # never a raw title change
        assert "Traceback" not in stream


def test_smoke_table_shows_answers_and_names_as_text(tmp_path: Path) -> None:
    reset_cancel()
    answer = "[/INST] " + ESC + "[2J [link=https://evil.example]x[/link] :smile:"
    served = ["[/INST] m", "[/bold] served " + ESC + "[31m"]  # the name asked for is served
    with fault_server("ok", reply=answer, served=served) as server:
        result = runner.invoke(
            app,
            ["smoke", "--endpoint", server.base_url, "--model", "[/INST] m", "--timeout", "20"],
        )
    assert result.exit_code in (0, 1), result.output
    assert "MarkupError" not in result.output
    _check_rendered(result.stdout, "smoke table")
    assert "[/INST]" in result.stdout
    assert ":smile:" in result.stdout  # an emoji code is text too


def test_gpu_names_from_nvidia_smi_are_text(tmp_path: Path) -> None:
    """`nvidia-smi` output is outside text: a fake one on PATH prints brackets and ESC."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\nprintf 'NVIDIA [/x] H100 \\033[31m[bold], 81559, 80000\\n'\n", encoding="utf-8"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    env["SELECTOR_CACHE_DIR"] = str(tmp_path / "c")
    req = tmp_path / "req.toml"
    req.write_text("[hardware]\ndetect = true\n", encoding="utf-8")
    selector = [sys.executable, "-m", "selector"]
    runs = [["hardware"]] + [["recommend", str(req), "--no-smoke", "-f", f] for f in FORMATS]
    for cmd in runs:
        proc = subprocess.run(
            selector + cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
        )
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        assert "MarkupError" not in proc.stderr and "Traceback" not in proc.stderr
        assert ESC not in proc.stdout, cmd
        if cmd[-1] in ("hardware", "table"):
            assert "NVIDIA [/x] H100 \\x1b[31m[bold]" in proc.stdout, cmd


def test_catalog_show_and_list_show_hostile_catalog_text(tmp_path: Path) -> None:
    catalog = tmp_path / "private.toml"
    catalog.write_text(PRIVATE, encoding="utf-8")
    shown = runner.invoke(app, ["catalog", "show", "acme-evil", "--catalog", str(catalog)])
    listed = runner.invoke(app, ["catalog", "list", "--catalog", str(catalog)])
    for result in (shown, listed):
        assert result.exit_code == 0, result.output
        _check_rendered(result.stdout, "catalog")
    assert "[/] Acme \\x1b]0;pwned\\x07 Corp" in shown.stdout
    assert "[/] Acme" in listed.stdout


def test_error_messages_show_file_names_with_controls_as_text(tmp_path: Path) -> None:
    bad = tmp_path / f"{ESC}]0;title{chr(7)}[bold]req.toml"
    bad.write_text("[use_case\n", encoding="utf-8")
    result = runner.invoke(app, ["recommend", str(bad), "--no-smoke"])
    assert result.exit_code == 2
    _check_rendered(result.stderr, "stderr")
    assert "\\x1b]0;title\\x07[bold]req.toml" in result.stderr


def test_the_smoke_spinner_shows_a_hostile_name_as_text() -> None:
    from rich.console import Console

    from selector.smoke.cli import _status

    console = Console(stderr=True, force_terminal=True)  # the spinner runs only on a terminal
    with _status(console, "smoke-testing [/x] " + ESC + "[2J model.gguf") as status:
        status.say("waiting for [/bold] " + ESC + "[2J another run")
        # Rich used to parse the name as markup here: MarkupError
