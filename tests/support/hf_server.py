"""A local stand-in for the Hugging Face Hub's download protocol, on 127.0.0.1 only.

What `huggingface_hub.hf_hub_download` needs (huggingface_hub file_download.py,
`get_hf_file_metadata` and `http_get`): `HEAD /{repo}/resolve/{revision}/{path}` answering with
`X-Repo-Commit` (the commit the revision resolves to) and the file's etag and size. For an LFS
file the Hub answers 302 to a storage host with `X-Linked-Etag` (the sha256) and `X-Linked-Size`
on the redirect itself; huggingface_hub stops at a redirect to another origin and reads them
there, then GETs the storage URL, resuming with `Range: bytes=N-` (206 + Content-Range) when
a body is cut. Errors carry `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound).

Two listeners on 127.0.0.1 play the two hosts: the Hub, and the storage host (reached as
`localhost`, another origin). A file can
be served tampered (bytes differ from the sha256 the headers claim) or cut mid-body on its first
download. Every request is recorded, for tests to assert on.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


@dataclass
class HubFile:
    repo: str
    path: str
    source: bytes | Path
    sha256: str  # what the headers claim (the LFS oid)
    size: int
    tamper: bool = False  # serve one byte flipped
    cut_first: bool = False  # cut the first full GET half-way
    served: int = 0  # full (non-range) GETs answered

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the content as served (tampered when asked)."""
        if isinstance(self.source, bytes):
            data = self.source[start:end]
        else:
            with self.source.open("rb") as fh:
                fh.seek(start)
                data = fh.read(end - start)
        flip = self.size // 2
        if self.tamper and start <= flip < end:
            i = flip - start
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        return data


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HubServer:
    """Start with `with HubServer() as hub:`; `hub.endpoint` goes into HF_ENDPOINT."""

    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    redirect: bool = True  # LFS-style 302 to the storage origin (the Hub's way for GGUF files)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def add(
        self,
        repo: str,
        path: str,
        source: bytes | Path,
        *,
        commit: str | None = None,
        sha256: str | None = None,
        tamper: bool = False,
        cut_first: bool = False,
    ) -> HubFile:
        if isinstance(source, bytes):
            size, real = len(source), hashlib.sha256(source).hexdigest()
        else:
            size, real = source.stat().st_size, ""
            if sha256 is None:
                digest = hashlib.sha256()
                with source.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        digest.update(block)
                real = digest.hexdigest()
        self.commits.setdefault(repo, commit or hashlib.sha1(repo.encode()).hexdigest())
        f = HubFile(repo, path, source, sha256 or real, size, tamper, cut_first)
        self.files[(repo, path)] = f
        return f

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> HubServer:
        hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, storage=False))
        cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, storage=True))
        for server in (hub, cdn):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers = [hub, cdn]
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def storage(self) -> str:
        """The storage listener, named `localhost`: another host, as the Hub's CDN is (some
        huggingface_hub releases follow a redirect to the same host whatever the port)."""
        return f"http://localhost:{self._servers[1].server_address[1]}"

    def ranges(self) -> list[str]:
        """The Range headers of the storage GETs, in order (resumes show up here)."""
        return [
            r.headers.get("range", "")
            for r in self.requests
            if r.method == "GET" and "/cdn/" in r.path
        ]


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_CDN = re.compile(r"^/cdn/(?P<index>\d+)$")


def _handler(hub: HubServer, *, storage: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _error(self, code: int, error_code: str, commit: str | None = None) -> None:
            self.send_response(code)
            self.send_header("X-Error-Code", error_code)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve(self, *, body: bool) -> None:
            from urllib.parse import unquote

            path = unquote(self.path.split("?", 1)[0])
            hub.requests.append(
                Request(self.command, path, {k.lower(): v for k, v in self.headers.items()})
            )
            if storage:
                m = _CDN.match(path)
                files = list(hub.files.values())
                if m is None or int(m.group("index")) >= len(files):
                    return self._error(404, "EntryNotFound")
                return self._content(files[int(m.group("index"))], body=body)
            m = _RESOLVE.match(path)
            if m is None:
                return self._error(404, "RepoNotFound")
            repo, rev, name = m.group("repo"), m.group("rev"), m.group("path")
            commit = hub.commits.get(repo)
            if commit is None:
                return self._error(404, "RepoNotFound")
            if rev not in (commit, "main"):
                return self._error(404, "RevisionNotFound")
            f = hub.files.get((repo, name))
            if f is None:
                return self._error(404, "EntryNotFound", commit)
            if not hub.redirect:
                return self._content(f, body=body, commit=commit)
            index = list(hub.files).index((repo, name))
            self.send_response(302)
            self.send_header("Location", f"{hub.storage}/cdn/{index}")
            self.send_header("X-Repo-Commit", commit)
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            self.send_header("X-Linked-Size", str(f.size))
            self.send_header("ETag", f'"{hashlib.sha1(f.sha256.encode()).hexdigest()}"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _content(self, f: HubFile, *, body: bool, commit: str | None = None) -> None:
            start, end = 0, f.size
            ranged = self.headers.get("Range")
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", ranged or "")
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) + 1 if m.group(2) else f.size
            self.send_response(206 if m else 200)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{f.sha256}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start))
            if m:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{f.size}")
            self.end_headers()
            if not body:
                return
            cut = None
            if not m:
                f.served += 1
                if f.cut_first and f.served == 1:
                    cut = f.size // 2
            pos = start
            while pos < end:
                stop = min(end, pos + _CHUNK, cut if cut is not None and cut > pos else end)
                self.wfile.write(f.read(pos, stop))
                pos = stop
                if cut is not None and pos >= cut:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the peer sees the body end early
                    return

    return Handler
