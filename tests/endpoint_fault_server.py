"""A small OpenAI-shaped HTTP server on 127.0.0.1 that misbehaves on purpose, for fault tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
)


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
        self.models = ["fake-model"] if models is None else models
        self.models_status = models_status
        self.honours_ignore_eos = honours_ignore_eos
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.auth_headers: list[str | None] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


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
    def do_GET(self) -> None:
        if not self._authorized():
            self._unauthorized()
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
        if server.reject_needle and server.reject_needle in json.dumps(body):
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

    def _reply_for(self, body: dict[str, Any]) -> str:
        """A scripted answer when a key of `answers` occurs in the request, else `reply`."""
        asked = body.get("prompt") or ""
        if not asked and body.get("messages"):
            asked = str(body["messages"][-1].get("content", ""))
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
            self._event(self._chunk({}, finish="stop", chat=chat))
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
    models: list[str] | None = None,
    models_status: int = 200,
    honours_ignore_eos: bool = False,
) -> Iterator[FaultServer]:
    """Run a FaultServer in a thread for the duration of the block."""
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
        models=models,
        models_status=models_status,
        honours_ignore_eos=honours_ignore_eos,
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
