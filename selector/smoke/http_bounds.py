"""Bounds on what one HTTP request to an endpoint may cost: time, memory, and Ctrl-C.

httpx's timeouts are per socket operation, so a server that trickles a byte a second, or sends
`: ping` comments forever, never trips them. Here every socket wait (connect, TLS, each read
and write) is cut to the smaller of its own timeout and what is left of the run's deadline,
and waits in slices of at most `connect.SLICE_S` so an interrupt (`cancel_requests()`) ends
it within a fraction of a second, in any thread. The name lookup and the connect run under
the same bound (selector/smoke/connect.py). Bodies are read raw and decoded here, with a cap
on the decoded bytes (a gzip bomb stops at the cap) and on the length of one line.
"""

from __future__ import annotations

import codecs
import logging
import re
import selectors
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpcore

from selector.smoke.cancel import cancellable_sleep
from selector.smoke.connect import connect_first, resolve, wait_slice

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

STREAM_BODY_LIMIT = 16 * 2**20  # decoded bytes of one streamed completion
MODELS_BODY_LIMIT = 4 * 2**20  # decoded bytes of GET /models
ERROR_BODY_LIMIT = 8 * 2**10  # decoded bytes read of an error answer: enough for its message
LINE_LIMIT = 2**20  # characters of one SSE line (and of one event's data)
DECODE_PIECE = 2**16  # decoded bytes split into lines at a time (a gzip read can inflate 1000x)

_NEWLINE = re.compile(r"\r\n|\r|\n")


class BodyLimitError(Exception):
    """A body or a line went past what selector keeps."""


class DeadlineNetwork(httpcore.NetworkBackend):
    """httpcore network backend whose every wait is bounded by `remaining()` and cancellable.

    `remaining` is set per request by the client (seconds left of the run's deadline).
    """

    def __init__(self) -> None:
        self.remaining: Callable[[], float] = lambda: float("inf")

    def _budget(self, timeout: float | None) -> float:
        left = self.remaining()
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        end = time.monotonic() + self._budget(timeout)
        infos = resolve(host, port, end)

        def prepare(sock: socket.socket) -> None:
            if local_address is not None:
                sock.bind((local_address, 0))
            for option in socket_options or ():
                sock.setsockopt(*option)

        sock = connect_first(infos, end, prepare)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Stream(sock, self)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - endpoints are TCP URLs
        raise httpcore.ConnectError("unix sockets are not supported for endpoints")

    def sleep(self, seconds: float) -> None:
        cancellable_sleep(seconds)


class _Stream(httpcore.NetworkStream):
    """A socket whose reads wait in slices, bounded by the read timeout and the deadline."""

    def __init__(self, sock: socket.socket, network: DeadlineNetwork) -> None:
        self._sock = sock
        self._network = network

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = time.monotonic() + self._network._budget(timeout)
        while True:
            pending = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()
            self._sock.settimeout(0 if pending else wait_slice(end, httpcore.ReadTimeout))
            try:
                return self._sock.recv(max_bytes)
            except (TimeoutError, ssl.SSLWantReadError, BlockingIOError):
                continue
            except OSError as exc:
                raise httpcore.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        end = time.monotonic() + self._network._budget(timeout)
        view = memoryview(buffer)
        while view:
            self._sock.settimeout(wait_slice(end, httpcore.WriteTimeout))
            try:
                sent = self._sock.send(view)
            except (TimeoutError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            view = view[sent:]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._network._budget(timeout)
        if budget <= 0:
            raise httpcore.ConnectTimeout("timed out")
        self._sock.settimeout(budget)
        try:
            wrapped = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as exc:
            self.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except OSError as exc:
            self.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(wrapped, self._network)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object" and isinstance(self._sock, ssl.SSLSocket):
            return self._sock._sslobj  # type: ignore[attr-defined]  # httpcore reads it so
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":
            if self._sock.fileno() == -1:
                return True
            with selectors.DefaultSelector() as sel:
                sel.register(self._sock, selectors.EVENT_READ)
                return bool(sel.select(0))
        return None


def install(client: httpx.Client, network: DeadlineNetwork) -> bool:
    """Route every connection `client` makes (proxied ones too) through `network`.

    httpx has no public hook for httpcore's network backend, so this sets the pool's; a test
    checks it still takes effect, so an httpx upgrade cannot silently drop the bound.
    """
    transports = [client._transport, *client._mounts.values()]
    installed = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = network
            installed = True
    if not installed:
        log.warning("httpx internals changed: endpoint requests are bounded per read only")
    return installed


class _Decoder:
    """Content-Encoding decoding with a cap on the bytes it produces (gzip bombs stop there)."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.produced = 0
        names = [e.strip().lower() for e in encoding.split(",") if e.strip()]
        names = [n for n in names if n != "identity"]
        if len(names) > 1 or (names and names[0] not in ("gzip", "x-gzip", "deflate")):
            raise BodyLimitError(f"unsupported Content-Encoding {encoding!r}")
        self.kind = names[0] if names else ""
        wbits = 16 + zlib.MAX_WBITS if self.kind in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits) if self.kind else None
        self._first = True

    def feed(self, raw: bytes, piece: int | None = None) -> Iterator[bytes]:
        """Decoded bytes of `raw` in pieces of at most `piece` bytes, in all at most
        `limit - produced` + 1 (so overflow is visible). A stream decodes piece by piece, so
        a small compressed read that inflates to megabytes is never held, or split into
        lines, all at once."""
        data = raw
        while True:
            room = self.limit - self.produced + 1
            if piece is not None:
                room = min(room, piece)
            if self._zlib is None:
                out, data = data[:room], data[room:]
            else:
                out = self._inflate(data, room)
                data = self._zlib.unconsumed_tail
            self.produced += len(out)
            if out:
                yield out
            if not data or self.full:
                return

    def _inflate(self, data: bytes, room: int) -> bytes:
        assert self._zlib is not None
        try:
            out = self._zlib.decompress(data, room)
        except zlib.error:
            if not (self.kind == "deflate" and self._first):
                raise BodyLimitError("body is not valid compressed data") from None
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            out = self._zlib.decompress(data, room)
        self._first = False
        return out

    @property
    def full(self) -> bool:
        return self.produced > self.limit


def read_body(
    response: httpx.Response, *, limit: int, on_chunk: Callable[[], None], truncate: bool = False
) -> bytes:
    """The decoded body, at most `limit` bytes: longer raises BodyLimitError, or with
    `truncate` stops reading there (an error answer: its first KB say what went wrong)."""
    decoder = _Decoder(response.headers.get("content-encoding", ""), limit)
    parts: list[bytes] = []
    for raw in response.iter_raw():
        on_chunk()
        parts.extend(decoder.feed(raw))
        if decoder.full:
            if truncate:
                break
            raise BodyLimitError(f"body longer than {limit // 2**10} KiB")
    return b"".join(parts)[:limit]


def iter_lines(
    response: httpx.Response,
    *,
    on_chunk: Callable[[], None],
    body_limit: int = STREAM_BODY_LIMIT,
    line_limit: int = LINE_LIMIT,
) -> Iterator[str]:
    """The body's lines (SSE: CRLF, CR or LF ends one), each at most `line_limit` characters,
    the decoded body at most `body_limit` bytes; `on_chunk` runs after every network read."""
    decoder = _Decoder(response.headers.get("content-encoding", ""), body_limit)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    splitter = LineSplitter(line_limit)
    for raw in response.iter_raw():
        on_chunk()
        for data in decoder.feed(raw, DECODE_PIECE):
            if decoder.full:
                raise BodyLimitError(f"stream longer than {body_limit // 2**20} MiB")
            yield from splitter.feed(text.decode(data))
    yield from splitter.feed(text.decode(b"", final=True))
    yield from splitter.close()


class LineSplitter:
    """Splits text arriving in pieces into lines, refusing a line longer than `limit`."""

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._skip_lf = False  # the last piece ended in CR: a leading LF belongs to it

    def feed(self, text: str) -> list[str]:
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        if text:
            self._skip_lf = text.endswith("\r")
        lines = []
        start = 0
        for match in _NEWLINE.finditer(text):
            self._add(text[start : match.start()])
            lines.append("".join(self._parts))
            self._parts, self._size = [], 0
            start = match.end()
        self._add(text[start:])
        return lines

    def close(self) -> list[str]:
        return ["".join(self._parts)] if self._parts else []

    def _add(self, piece: str) -> None:
        if not piece:
            return
        self._size += len(piece)
        if self._size > self.limit:
            raise BodyLimitError(f"a line longer than {self.limit // 2**10} KiB")
        self._parts.append(piece)
