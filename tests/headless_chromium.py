"""Open a local page in headless Chromium with networking off and report what it saw.

Talks the DevTools protocol over `--remote-debugging-pipe` (JSON messages separated by NUL
on file descriptors 3 and 4), so no port is opened and no driver package is needed. The
network is off three ways: DNS resolves nothing (`--host-resolver-rules`), the page's
network is emulated offline, and every request the page makes is recorded, so a test can
require that there were none beyond the file itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self.out, self.inp = proc, proc.stdin, proc.stdout
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        self.out.flush()
        reply = self.wait(lambda m, i=self.next_id: m.get("id") == i)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait(self, match: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.events):
                if match(message):
                    return self.events.pop(i)
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw)
                if match(message):
                    return message
                self.events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.inp], [], [], left)
            if ready:
                chunk = os.read(self.inp.fileno(), 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk


def visit(page: Path, expressions: dict[str, str], *, settle_s: float = 0.5) -> PageVisit:
    """Load `page` offline; return console errors, requests and the values of `expressions`."""
    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError("no chromium executable on PATH")
    # Chromium's helper processes can still write to the profile for a moment after the browser
    # is killed: the whole process group is killed, and a late file does not fail the cleanup.
    with tempfile.TemporaryDirectory(
        prefix="selector-chromium-", ignore_cleanup_errors=True
    ) as profile:
        args = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # fd 3 is what Chromium reads commands from, fd 4 where it writes replies
        wrapper = ["sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', "sh", *args]
        proc = subprocess.Popen(
            wrapper,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return _drive(_Pipe(proc), page, expressions, settle_s)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _drive(pipe: _Pipe, page: Path, expressions: dict[str, str], settle_s: float) -> PageVisit:
    targets = pipe.send("Target.getTargets")["targetInfos"]
    target = next(t["targetId"] for t in targets if t["type"] == "page")
    session = pipe.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
        pipe.send(domain, session)
    pipe.send(
        "Network.emulateNetworkConditions",
        session,
        offline=True,
        latency=0,
        downloadThroughput=-1,
        uploadThroughput=-1,
    )
    pipe.send("Page.navigate", session, url=page.resolve().as_uri())
    pipe.wait(lambda m: m.get("method") == "Page.loadEventFired")
    end = time.monotonic() + settle_s
    while time.monotonic() < end:  # let late console messages arrive
        try:
            pipe.wait(lambda m: False, timeout=max(0.0, end - time.monotonic()))
        except TimeoutError:
            break
    seen = PageVisit()
    for name, expression in expressions.items():
        result = pipe.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        seen.values[name] = result["result"].get("value")
    for event in pipe.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            seen.console_errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            thrown = details.get("exception", {}).get("description", "")
            seen.console_errors.append(f"exception: {details.get('text', '')} {thrown}".strip())
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            seen.console_errors.append("log: " + params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(LOCAL_SCHEMES):
                seen.network_requests.append(url)
    return seen
