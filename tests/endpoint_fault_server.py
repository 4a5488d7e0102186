"""A small OpenAI-shaped HTTP server on 127.0.0.1 that misbehaves on purpose, for fault tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = (
    "ok",  # well-behaved streaming server
    "500",  # every POST answers 500
    "429-then-ok",  # the first `fail_times` POSTs answer 429 with Retry-After, then ok
    "503-then-ok",  # the first `fail_times` POSTs answer 503 without Retry-After, then ok
    "401",  # every request answers 401 (any mode does so without the expected key)
    "404",  # every POST answers 404 (wrong path or model)
    "hang-before-headers",  # POST never answers
    "hang-mid-stream",  # POST sends a chunk, then stalls
    "close-mid-stream",  # POST sends a chunk, then drops the connection (chunked body cut)
    "eof-mid-stream",  # POST sends a chunk, then ends the body cleanly but without [DONE]
    "malformed",  # POST sends a chunk that is not JSON
    "error-event",  # POST sends an `{"error": ...}` object mid-stream
    "reject-tools",  # POST with `tools` answers 400, otherwise ok
    "reject-stream-options",  # POST with `stream_options` answers 400, otherwise ok
    # hostile servers (issue 17): time, memory, numbers, redirects
    "ping-forever",  # POST: headers, then `: ping` comments every `delay_s`, never an event
    "blank-forever",  # POST: headers, then blank lines every `delay_s`, never an event
    "trickle-body",  # POST: headers, then an endless event body one byte every `delay_s`
    "trickle-headers",  # any request: the status line, then header bytes one every `delay_s`
    "hang-models",  # GET /models never answers (POST is ok)
    "endless-line",  # POST: `data: ` and then bytes without a newline, as fast as it can
    "endless-event",  # POST: `data:` lines that never end the event, as fast as it can
    "gzip-bomb-error",  # POST: 500 with a gzip body of `bomb_mb` MiB of zeros (every attempt)
    "gzip-bomb-stream",  # POST: 200 with a gzip event stream of `bomb_mb` MiB of comment bytes
    "redirect",  # every request: 302 to `redirect_to`
    "huge-usage",  # POST: ok, but `usage` counts with 400 digits
    "retry-after-nan",  # the first `fail_times` POSTs: 503 with Retry-After: nan, then ok
    "error-message",  # every POST: `error_status` with `error_message` as the OpenAI error
)


def gzip_bomb(mb: int, unit: bytes = b"\0") -> bytes:
    """`mb` MiB of `unit` repeated, gzip-compressed (about 1000:1 for zeros)."""
    import gzip
    import io

    out = io.BytesIO()
    block = unit * (2**20 // len(unit))
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as fh:
        for _ in range(mb):
            fh.write(block)
    return out.getvalue()


class InFlightGauge:
    """Counts calls in flight (a `with` block each), to check a concurrency bound."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.now -= 1


class FaultServer(ThreadingHTTPServer):
    """Holds the mode and what the server saw, so tests can assert on both."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        mode: str,
        *,
        reply: str,
        fail_times: int,
        expected_key: str | None,
        hang_s: float,
        tool_call: dict[str, Any] | None,
        usage: bool,
        answers: dict[str, str],
        reject_needle: str | None,
        delay_s: float,
        finish_length: tuple[str, ...] = (),
        served: list[str] | None = None,
        redirect_to: str = "http://127.0.0.1:1/v1",
        error_status: int = 400,
        error_message: str = "bad request",
        bomb_mb: int = 64,
        models: list[str] | None = None,
        models_status: int = 200,
        honours_ignore_eos: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; available: {', '.join(MODES)}")
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.reply = reply
        self.fail_times = fail_times
        self.expected_key = expected_key
        self.hang_s = hang_s
        self.tool_call = tool_call
        self.usage = usage
        self.answers = answers
        self.reject_needle = reject_needle
        self.delay_s = delay_s
        self.finish_length = finish_length
        self.redirect_to = redirect_to
        self.error_status = error_status
        self.error_message = error_message
        self.bomb_mb = bomb_mb
        self._bomb: bytes | None = None
        # `served` (hostile tests) and `models` (integrity tests) both name what /models lists
        self.models = models if models is not None else (served or ["fake-model"])
        self.models_status = models_status
        self.honours_ignore_eos = honours_ignore_eos
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.auth_headers: list[str | None] = []

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-answer is what the hostile modes provoke: no traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def bomb(self) -> bytes:
        if self._bomb is None:
            unit = b"\0" if self.mode == "gzip-bomb-error" else b": ping ping ping\n"
            self._bomb = gzip_bomb(self.bomb_mb, unit)
        return self._bomb


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultServer

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    # -- helpers ---------------------------------------------------------------------------
    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, chunked: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _event(self, data: str, chunked: bool = True) -> None:
        raw = f"data: {data}\n\n".encode()
        if chunked:
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        else:
            self.wfile.write(raw)
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization")
        with self.server.lock:
            self.server.auth_headers.append(header)
        if self.server.expected_key is None:
            return self.server.mode != "401"
        return header == f"Bearer {self.server.expected_key}"

    def _unauthorized(self) -> None:
        """A careless server that echoes the credential it got: the worst case for leaks."""
        got = self.headers.get("Authorization")
        self._json(401, {"error": {"message": f"invalid api key: {got}"}})

    @staticmethod
    def _chunk(delta: dict[str, Any], finish: str | None = None, chat: bool = True) -> str:
        if chat:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": delta.get("content", ""), "finish_reason": finish}
        return json.dumps({"id": "x", "object": "chunk", "choices": [choice]})

    # -- routes ----------------------------------------------------------------------------
    def _hostile_common(self) -> bool:
        """Modes that misbehave on every request; True when this request was answered."""
        server = self.server
        if server.mode == "trickle-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            while not server.stop.wait(server.delay_s):
                try:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                except OSError:
                    return True
            return True
        if server.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            self._unauthorized()
            return
        if self._hostile_common():
            return
        if self.server.mode == "hang-models":
            self.server.stop.wait(self.server.hang_s)
            return
        if self.path.rstrip("/").endswith("/models"):
            if self.server.models_status != 200:
                self._json(self.server.models_status, {"error": {"message": "no such route"}})
                return
            data = [{"id": m} for m in self.server.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        server = self.server
        with server.lock:
            server.posts.append(body)
            server.paths.append(self.path)
            count = len(server.posts)
        mode = server.mode
        chat = self.path.rstrip("/").endswith("/chat/completions")
        if not self._authorized():
            self._unauthorized()
            return
        if self._hostile_common() or self._hostile_post(count, chat):
            return
        if mode == "500":
            self._json(500, {"error": {"message": "internal failure"}})
            return
        if mode == "404":
            self._json(404, {"error": {"message": "model 'x' not found"}})
            return
        if mode in ("429-then-ok", "503-then-ok") and count <= server.fail_times:
            if mode == "429-then-ok":
                self._json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
            else:
                self._json(503, {"error": {"message": "loading model"}})
            return
        if server.reject_needle and server.reject_needle in json.dumps(body, ensure_ascii=False):
            self._json(400, {"error": {"message": "prompt exceeds the context size"}})
            return
        if mode == "reject-tools" and body.get("tools"):
            self._json(400, {"error": {"message": "tools are not supported"}})
            return
        if mode == "reject-stream-options" and "stream_options" in body:
            self._json(400, {"error": {"message": "unknown field stream_options"}})
            return
        if mode == "hang-before-headers":
            server.stop.wait(server.hang_s)
            return
        if mode == "eof-mid-stream":
            self._start_stream(chunked=False)
            self._event(self._chunk({"content": "partial"}, chat=chat), chunked=False)
            return
        self._start_stream()
        if mode == "hang-mid-stream":
            self._event(self._chunk({"role": "assistant", "content": "par"}, chat=chat))
            server.stop.wait(server.hang_s)
            return
        if mode == "close-mid-stream":
            self._event(self._chunk({"content": "partial"}, chat=chat))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode == "malformed":
            self._event(self._chunk({"content": "ok"}, chat=chat))
            self._event('{"choices": [{"delta": {"content": "bro')
            self._end_chunked()
            return
        if mode == "error-event":
            self._event(self._chunk({"content": "ok"}, chat=chat))
            self._event(json.dumps({"error": {"message": "CUDA out of memory"}}))
            self._end_chunked()
            return
        self._stream_reply(body, chat)

    def _write_forever(self, piece: bytes, delay_s: float) -> None:
        """Send `piece` as a chunk every `delay_s` until the client leaves or the server stops."""
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        while not self.server.stop.is_set():
            try:
                self.wfile.write(frame)
                self.wfile.flush()
            except OSError:
                return
            if delay_s:
                self.server.stop.wait(delay_s)

    def _hostile_post(self, count: int, chat: bool) -> bool:
        """The hostile POST modes; True when this request was answered."""
        server, mode = self.server, self.server.mode
        if mode == "error-message":
            self._json(server.error_status, {"error": {"message": server.error_message}})
            return True
        if mode == "retry-after-nan" and count <= server.fail_times:
            self._json(503, {"error": {"message": "loading"}}, {"Retry-After": "nan"})
            return True
        if mode in ("gzip-bomb-error", "gzip-bomb-stream"):
            error = mode == "gzip-bomb-error"
            body = server.bomb()
            self.send_response(500 if error else 200)
            self.send_header("Content-Type", "application/json" if error else "text/event-stream")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(OSError):
                self.wfile.write(body)
            return True
        if mode == "huge-usage":
            self._start_stream()
            self._event(self._chunk({"content": "hi"}, chat=chat))
            self._event(self._chunk({}, finish="stop", chat=chat))
            big = int("9" * 400)
            usage = {"prompt_tokens": big, "completion_tokens": big, "total_tokens": big}
            self._event(json.dumps({"id": "x", "choices": [], "usage": usage}))
            self._event("[DONE]")
            self._end_chunked()
            return True
        forever = {
            "ping-forever": (b": ping\n\n", server.delay_s),
            "blank-forever": (b"\n", server.delay_s),
            "trickle-body": (b"a", server.delay_s),
            "endless-line": (b"x" * 65536, 0.0),
            "endless-event": (b"data: " + b"y" * 65530 + b"\n", 0.0),
        }
        if mode in forever:
            piece, delay = forever[mode]
            self._start_stream()
            if mode in ("trickle-body", "endless-line"):
                self.wfile.write(b"6\r\ndata: \r\n")  # the event starts; its bytes follow
            self._write_forever(piece, delay)
            return True
        return False

    @staticmethod
    def _asked(body: dict[str, Any]) -> str:
        asked = body.get("prompt") or ""
        if not asked and body.get("messages"):
            asked = str(body["messages"][-1].get("content", ""))
        return str(asked)

    def _reply_for(self, body: dict[str, Any]) -> str:
        """A scripted answer when a key of `answers` occurs in the request, else `reply`."""
        asked = self._asked(body)
        for needle, answer in self.server.answers.items():
            if needle in asked:
                return answer
        return self.server.reply

    def _stream_reply(self, body: dict[str, Any], chat: bool) -> None:
        server = self.server
        if chat and body.get("tools") and server.tool_call is not None:
            call = server.tool_call
            arguments = json.dumps(call["arguments"])
            first = {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": call["name"], "arguments": ""},
                    }
                ]
            }
            self._event(self._chunk(first))
            for start in range(0, len(arguments), 7):
                piece = {
                    "tool_calls": [
                        {"index": 0, "function": {"arguments": arguments[start : start + 7]}}
                    ]
                }
                self._event(self._chunk(piece))
            self._event(self._chunk({}, finish="tool_calls"))
        else:
            words = self._reply_for(body).split(" ")
            if server.honours_ignore_eos and body.get("ignore_eos"):
                # like llama-server: keep generating to max_tokens (the reply, repeated)
                while len(words) < int(body.get("max_tokens") or 0):
                    words += words
                words = words[: int(body["max_tokens"])]
            for i, word in enumerate(words):
                if server.delay_s:
                    time.sleep(server.delay_s)
                piece = word if i == 0 else " " + word
                self._event(self._chunk({"content": piece}, chat=chat))
            asked = self._asked(body)
            cut = any(needle in asked for needle in server.finish_length)
            self._event(self._chunk({}, finish="length" if cut else "stop", chat=chat))
            if server.usage and (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "prompt_tokens": 11,
                    "completion_tokens": len(words) + 1,
                    "total_tokens": 12 + len(words),
                }
                self._event(json.dumps({"id": "x", "choices": [], "usage": usage}))
        self._event("[DONE]")
        self._end_chunked()


@contextmanager
def fault_server(
    mode: str,
    *,
    reply: str = "Hello from the fake server",
    fail_times: int = 2,
    expected_key: str | None = None,
    hang_s: float = 30.0,
    tool_call: dict[str, Any] | None = None,
    usage: bool = True,
    answers: dict[str, str] | None = None,
    reject_needle: str | None = None,
    delay_s: float = 0.0,
    finish_length: tuple[str, ...] = (),
    models: list[str] | None = None,
    models_status: int = 200,
    honours_ignore_eos: bool = False,
    **hostile: Any,
) -> Iterator[FaultServer]:
    """Run a FaultServer in a thread for the duration of the block (`hostile`: the extra
    settings of the hostile modes: served, redirect_to, error_status, error_message, bomb_mb)."""
    server = FaultServer(
        mode,
        reply=reply,
        fail_times=fail_times,
        expected_key=expected_key,
        hang_s=hang_s,
        tool_call=tool_call,
        usage=usage,
        answers=answers or {},
        reject_needle=reject_needle,
        delay_s=delay_s,
        finish_length=finish_length,
        models=models,
        models_status=models_status,
        honours_ignore_eos=honours_ignore_eos,
        **hostile,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
