"""`python -m llama_cpp.server` on a free 127.0.0.1 port, for integration tests and benches."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_START_S = 180.0


class ServerFailed(RuntimeError):
    """The server exited or did not answer in time; the message carries its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_cpp_server(
    model: Path,
    log_path: Path,
    *,
    alias: str | None = None,
    api_key: str | None = None,
    n_ctx: int = 2048,
    threads: int | None = None,
) -> Iterator[str]:
    """Serve `model` (as `alias`: what GET /models lists, and the only name selector credits);
    yields the /v1 base URL. The runtime matches the smoke child's (selector/smoke/runtime.py)
    so a served run computes what a local one does."""
    from selector.smoke.runtime import child_runtime

    runtime = child_runtime(n_ctx)
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(runtime.n_ctx),
        "--n_batch", str(runtime.n_batch),
        "--n_ubatch", str(runtime.n_ubatch),
        "--flash_attn", str(runtime.flash_attn),
    ]  # fmt: skip
    if alias:
        command += ["--model_alias", alias]
    if threads:
        command += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
    if api_key:
        command += ["--api_key", api_key]
    base_url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(process, base_url, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ServerFailed(f"llama_cpp.server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise ServerFailed(f"llama_cpp.server did not answer on {base_url} within {SERVER_START_S:g} s")
