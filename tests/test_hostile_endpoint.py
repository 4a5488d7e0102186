"""Hostile OpenAI-compatible servers (issue 17): every request ends by its deadline, memory is
bounded by what selector keeps, Ctrl-C ends a wait within a second, a key a server echoes never
survives into a message, and server-controlled numbers never raise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from endpoint_fault_server import fault_server

from selector.smoke.cancel import reset_cancel
from selector.smoke.endpoint import EndpointBackend
from selector.smoke.http_bounds import LineSplitter
from selector.smoke.interface import SmokeSettings, SmokeStatus
from selector.smoke.openai_http import Deadline, EndpointError, HttpPolicy, OpenAIHttp

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
IDLE = HttpPolicy(timeout_s=30, connect_timeout_s=2, retries=0, backoff_s=0.01)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _requests_allowed() -> None:
    reset_cancel()


def _timed_stream(base_url: str, deadline_s: float, policy: HttpPolicy = IDLE) -> tuple[str, float]:
    started = time.monotonic()
    with (
        OpenAIHttp(base_url, api_key_env=None, policy=policy) as http,
        pytest.raises(EndpointError) as info,
    ):
        http.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(deadline_s))
    return info.value.message, time.monotonic() - started


# -- time: the whole request is under one deadline ------------------------------------------


@pytest.mark.parametrize("mode", ["ping-forever", "blank-forever", "trickle-body"])
def test_a_stream_without_events_ends_at_the_deadline(mode: str) -> None:
    # each read returns within delay_s, so a per-read timeout (30 s here) never fires
    with fault_server(mode, delay_s=0.2) as server:
        message, elapsed = _timed_stream(server.base_url, 1.5)
    assert elapsed < 4.0, f"{mode}: {elapsed:.1f} s for a 1.5 s deadline"
    assert "exceeded its 1.5 s timeout" in message


def test_headers_trickled_a_byte_at_a_time_end_at_the_deadline() -> None:
    with fault_server("trickle-headers", delay_s=0.2) as server:
        message, elapsed = _timed_stream(server.base_url, 1.5)
    assert elapsed < 4.0
    assert "1.5 s timeout" in message


def test_get_models_runs_under_the_same_deadline() -> None:
    started = time.monotonic()
    with (
        fault_server("hang-models", hang_s=60) as server,
        OpenAIHttp(server.base_url, api_key_env=None, policy=IDLE) as http,
        pytest.raises(EndpointError) as info,
    ):
        http.list_models(Deadline(1.5))
    assert time.monotonic() - started < 4.0
    assert "1.5 s timeout" in info.value.message


def test_a_whole_endpoint_run_stops_at_timeout_s_against_a_pinging_server() -> None:
    """`smoke --timeout` / `timeout_s` bounds the candidate even when no event ever comes."""
    with fault_server("ping-forever", delay_s=0.1) as server:
        backend = EndpointBackend(server.base_url, "fake-model", timeout_s=30)
        started = time.monotonic()
        result = backend.run(SmokeSettings(timeout_s=2))
    assert time.monotonic() - started < 5.0
    assert result.status is SmokeStatus.ERROR
    assert "exceeded its 2 s timeout" in result.reason


# -- memory: bounded by what selector keeps -------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, sys
    from selector.smoke.openai_http import Deadline, EndpointError, HttpPolicy, OpenAIHttp
    policy = HttpPolicy(timeout_s=30, connect_timeout_s=2, retries=int(sys.argv[2]))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        with OpenAIHttp(sys.argv[1], api_key_env=None, policy=policy, sleep=lambda s: None) as h:
            h.stream("/chat/completions", body, chat=True, deadline=Deadline(60))
        message = "no error"
    except EndpointError as exc:
        message = exc.message
    # VmHWM, not ru_maxrss: ru_maxrss keeps the forked pytest's peak across exec
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    peak_mib = int(hwm[0].split()[1]) / 1024
    print(json.dumps({"message": message, "peak_mib": peak_mib}))
    """
)


def _client_in_subprocess(base_url: str, retries: int = 0) -> dict:
    """Run one streamed request in a fresh interpreter and return its peak RSS (MiB)."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, base_url, str(retries)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _baseline_peak_mib() -> float:
    with fault_server("ok") as server:
        return _client_in_subprocess(server.base_url)["peak_mib"]


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("endless-line", "line longer than"),
        ("endless-event", "event longer than"),
        ("gzip-bomb-stream", "stream longer than"),
    ],
)
def test_an_endless_stream_is_cut_at_a_fixed_size(mode: str, words: str) -> None:
    baseline = _baseline_peak_mib()
    with fault_server(mode, bomb_mb=256) as server:
        out = _client_in_subprocess(server.base_url)
    assert words in out["message"]
    # the caps are 1 MiB a line/event and 16 MiB a body; the server sends 256 MiB or more.
    # Decoded 64 KiB at a time, a gzip read never inflates into megabytes of lines at once
    # (whole, one read of ": ping" lines became ~1M line strings: 125 MiB over 32 measured)
    assert out["peak_mib"] < baseline + 24, (out, baseline)


def test_a_gzip_bomb_error_body_is_read_only_a_few_kilobytes_even_when_retried() -> None:
    baseline = _baseline_peak_mib()
    with fault_server("gzip-bomb-error", bomb_mb=256) as server:
        out = _client_in_subprocess(server.base_url, retries=2)
        assert len(server.posts) == 3
    assert out["message"].startswith("HTTP 500 from POST")
    assert out["message"].endswith("after 3 attempts")
    assert out["peak_mib"] < baseline + 40, (out, baseline)


def test_line_splitter_handles_crlf_split_across_reads_and_refuses_a_long_line() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed("data: a\r") == ["data: a"]
    assert splitter.feed("\ndata: b\n\n") == ["data: b", ""]
    assert splitter.feed("x" * 10) == []
    with pytest.raises(Exception, match="longer than"):
        splitter.feed("y")


# -- secrets: redacted before any cut --------------------------------------------------------

KEY = "sk-test-" + "A1b2C3d4E5" * 5  # 58 characters, longer than the 40-50 a cut keeps


def _leaks(text: str) -> list[str]:
    """Every 8-character piece of the key that survives in `text`."""
    return [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text]


def test_a_key_echoed_in_a_long_error_is_redacted_before_the_reason_is_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTILE_KEY", KEY)
    # the key sits where the 200-character cut falls: cut first, redact second leaks most of it
    message = "x" * 170 + " key " + KEY + " was rejected"
    with (
        fault_server("error-message", error_status=400, error_message=message) as server,
        OpenAIHttp(server.base_url, api_key_env="HOSTILE_KEY", policy=IDLE) as http,
        pytest.raises(EndpointError) as info,
    ):
        http.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(10))
    assert _leaks(info.value.message) == []
    assert "[redacted]" in info.value.message or "…" in info.value.message


def test_a_key_in_a_malformed_stream_chunk_is_redacted_before_the_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selector.smoke.sse import StreamError, read_stream

    monkeypatch.setenv("HOSTILE_KEY", KEY)
    http = OpenAIHttp("http://127.0.0.1:1/v1", api_key_env="HOSTILE_KEY", policy=IDLE)
    line = "data: {" + "y" * 80 + KEY
    with pytest.raises(StreamError) as info:
        read_stream([line, ""], chat=True, redact=http.redact)
    assert _leaks(str(info.value)) == []


def test_a_model_answer_containing_the_key_is_redacted_in_probe_details(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTILE_KEY", KEY)
    # a checker quotes the first 80 characters of the answer: the cut falls inside the key
    reply = "z" * 60 + KEY + " of course"
    with fault_server("ok", reply=reply, expected_key=KEY) as server:
        backend = EndpointBackend(
            server.base_url, "fake-model", api_key_env="HOSTILE_KEY", timeout_s=10
        )
        result = backend.run(SmokeSettings(timeout_s=30))
    dumped = result.model_dump_json()
    assert result.probes, result.reason
    assert _leaks(dumped) == []
    assert "[redacted]" in dumped


def test_a_server_that_echoes_the_bearer_header_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTILE_KEY", KEY)
    with fault_server("ok", expected_key="something-else") as server:
        backend = EndpointBackend(
            server.base_url, "fake-model", api_key_env="HOSTILE_KEY", timeout_s=10
        )
        result = backend.run(SmokeSettings(timeout_s=30))
    assert result.status is SmokeStatus.ERROR and "HTTP 401" in result.reason
    assert _leaks(result.model_dump_json()) == []


# -- numbers and messages from servers -------------------------------------------------------


def test_usage_with_400_digits_is_ignored_not_a_traceback(capfd: pytest.CaptureFixture) -> None:
    with fault_server("huge-usage") as server:
        result = EndpointBackend(server.base_url, "fake-model", timeout_s=10).run(
            SmokeSettings(timeout_s=30)
        )
    assert result.status is not SmokeStatus.ERROR, result.reason
    assert "counted deltas" in result.reason  # the usage figure was not believed
    assert "Traceback" not in capfd.readouterr().err


def test_retry_after_nan_falls_back_to_backoff(capfd: pytest.CaptureFixture) -> None:
    sleeps: list[float] = []
    with fault_server("retry-after-nan", fail_times=2, reply="up") as server:
        policy = HttpPolicy(timeout_s=5, connect_timeout_s=2, retries=3, backoff_s=0.01)
        with OpenAIHttp(server.base_url, api_key_env=None, policy=policy, sleep=sleeps.append) as h:
            result = h.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(10))
    assert result.text == "up"
    assert len(sleeps) == 2 and all(0 < s < 1 for s in sleeps)
    assert "Traceback" not in capfd.readouterr().err


def test_a_redirect_is_named_as_one_not_as_malformed_json() -> None:
    target = "https://elsewhere:8443/v1/models?k=1"
    with (
        fault_server("redirect", redirect_to=target) as server,
        OpenAIHttp(server.base_url, api_key_env=None, policy=IDLE) as http,
    ):
        with pytest.raises(EndpointError) as models:
            http.list_models(Deadline(10))
        with pytest.raises(EndpointError) as post:
            http.stream("/chat/completions", CHAT, chat=True, deadline=Deadline(10))
    for info in (models, post):
        assert "HTTP 302 redirect" in info.value.message
        assert "https://elsewhere:8443/v1/models" in info.value.message
        assert "k=1" not in info.value.message  # a query may carry a key
        assert "malformed" not in info.value.message


# -- Ctrl-C ---------------------------------------------------------------------------------


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_after_first_request(cmd: list[str], server, env: dict[str, str]) -> float:
    """Seconds from SIGINT to exit. Output goes to a file, not a pipe nobody reads; a process
    still running after 30 s is made to dump every thread's stack (faulthandler) for the
    failure message."""
    import tempfile

    env = {**env, "PYTHONFAULTHANDLER": "1"}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            text=True,
            # Ctrl-C reaches a command only where SIGINT is not ignored; a test run started in
            # the background of a non-interactive shell (`bash .ci/run &`) inherits it ignored,
            # and Python then installs no KeyboardInterrupt handler at all
            preexec_fn=_sigint_default,
        )
        try:
            deadline = time.monotonic() + 60
            while not server.posts and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert server.posts, "the command never reached the server"
            time.sleep(0.3)  # now waiting on the hung request
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)  # faulthandler prints the stacks
                proc.wait(timeout=10)
                log.seek(0)
                pytest.fail(f"still running 30 s after SIGINT:\n{log.read()[-6000:]}")
            return time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_ctrl_c_ends_smoke_endpoint_within_a_second(tmp_path: Path) -> None:
    env = {**os.environ, "SELECTOR_CACHE_DIR": str(tmp_path)}
    with fault_server("hang-before-headers", hang_s=120) as server:
        cmd = [sys.executable, "-m", "selector", "smoke", "--endpoint", server.base_url]
        cmd += ["--model", "fake-model", "--timeout", "100", "--format", "json"]
        took = _interrupt_after_first_request(cmd, server, env)
    assert took < 1.5, f"{took:.2f} s after SIGINT"


def test_ctrl_c_ends_recommend_with_endpoints_within_a_second(tmp_path: Path) -> None:
    env = {**os.environ, "SELECTOR_CACHE_DIR": str(tmp_path)}
    with fault_server("ping-forever", delay_s=0.2) as server:
        req = tmp_path / "req.toml"
        req.write_text(
            "[smoke]\ntimeout_s = 100\n"
            "[[smoke.endpoints]]\n"
            'model_id = "qwen3-30b-a3b"\n'
            f'base_url = "{server.base_url}"\n'
            'served_model = "fake-model"\n',
            encoding="utf-8",
        )
        cmd = [sys.executable, "-m", "selector", "recommend", str(req), "--no-bundled-model"]
        took = _interrupt_after_first_request(cmd, server, env)
    assert took < 1.5, f"{took:.2f} s after SIGINT"


def test_tls_connections_go_through_the_bounded_network_too(tmp_path: Path) -> None:
    """https endpoints: the handshake and reads use the same sliced, deadline-bound socket."""
    import http.server
    import shutil
    import ssl
    import threading

    import httpx

    from selector.smoke.http_bounds import DeadlineNetwork, install

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for a local TLS server")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x"]
    subprocess.run(
        ["openssl", *args, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b'{"data": [{"id": "m"}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        network = DeadlineNetwork()
        with httpx.Client(verify=False) as client:
            assert install(client, network)
            url = f"https://127.0.0.1:{server.server_address[1]}/v1/models"
            assert client.get(url).json() == {"data": [{"id": "m"}]}
            network.remaining = lambda: 0.0  # the deadline has passed: no more waiting
            with pytest.raises(httpx.TimeoutException):
                client.get(url)
    finally:
        server.shutdown()
        server.server_close()
