"""Connecting to an endpoint is bounded too (issue 17): a name lookup that never answers ends
by the request's deadline, and a host whose first addresses are black-holed is reached
through the next one, all of it within the deadline.

The resolver is simulated by patching `socket.getaddrinfo` (the OS resolver's entry point, not
selector's code): a lookup that blocks until the test ends, or that returns several addresses.
Black-holed addresses are real: a listener on 127.0.0.1 whose backlog is full, so the kernel
drops every new SYN and a connect waits as it would for an unreachable host.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from endpoint_fault_server import fault_server

from selector.smoke import connect
from selector.smoke.cancel import cancel_requests, reset_cancel
from selector.smoke.openai_http import Deadline, EndpointError, HttpPolicy, OpenAIHttp

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture(autouse=True)
def _requests_allowed() -> Iterator[None]:
    reset_cancel()
    yield
    reset_cancel()


@pytest.fixture()
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """Names the test maps: to a list of (ip, port), to an exception, or to "hang" (blocks
    until the test is over, as a resolver whose server never answers). Other names resolve
    as usual."""
    names: dict[str, object] = {}
    release = threading.Event()
    calls: list[str] = []

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:
        answer = names.get(host)
        flags = args[3] if len(args) > 3 else kwargs.get("flags", 0)
        if answer is None or int(flags) & socket.AI_NUMERICHOST:  # type: ignore[call-overload]
            # a numeric-only call never asks a resolver: the real one answers it
            return REAL_GETADDRINFO(host, port, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(host)
        if answer == "hang":
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if isinstance(answer, Exception):
            raise answer
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", a) for a in answer]  # type: ignore[attr-defined]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    names["_calls"] = calls
    yield names
    release.set()


def _list_models(url: str, *, deadline_s: float, connect_s: float) -> tuple[str, float]:
    """GET /models under the deadline: (the answer or the error, seconds it took)."""
    policy = HttpPolicy(timeout_s=60, connect_timeout_s=connect_s, retries=0)
    started = time.monotonic()
    with OpenAIHttp(url, api_key_env=None, policy=policy) as http:
        try:
            text = repr(http.list_models(Deadline(deadline_s)))
        except EndpointError as exc:
            text = exc.message
    return text, time.monotonic() - started


# -- the name lookup ------------------------------------------------------------------------


def test_a_lookup_that_never_answers_ends_at_the_deadline(resolver: dict) -> None:
    resolver["llm.corp.example"] = "hang"
    text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=1.5, connect_s=60)
    assert took < 4.0, f"{took:.1f} s for a 1.5 s deadline"
    assert "name lookup of llm.corp.example did not answer within 1.5 s" in text
    assert "\n" not in text


def test_a_lookup_that_never_answers_ends_at_the_connect_timeout(resolver: dict) -> None:
    resolver["llm.corp.example"] = "hang"
    text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=60, connect_s=1)
    assert took < 3.5, f"{took:.1f} s for a 1 s connect timeout"
    assert "name lookup of llm.corp.example did not answer within 1.0 s" in text


def test_ctrl_c_ends_a_hanging_lookup_within_a_second(resolver: dict) -> None:
    resolver["llm.corp.example"] = "hang"
    timer = threading.Timer(0.5, cancel_requests)
    timer.start()
    try:
        text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=60, connect_s=60)
    finally:
        timer.cancel()
    assert took < 1.5, f"{took:.2f} s, interrupted after 0.5 s"
    assert "interrupted" in text


def test_a_name_that_does_not_exist_is_named_in_one_line(resolver: dict) -> None:
    resolver["nosuch.example"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    text, took = _list_models("http://nosuch.example:8000/v1", deadline_s=30, connect_s=5)
    assert took < 2.0
    assert text == (
        "cannot connect to http://nosuch.example:8000/v1: "
        "name lookup of nosuch.example failed: Name or service not known"
    )


def test_lookups_left_hanging_are_capped_not_piled_up(
    resolver: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup given up on keeps its thread until the resolver answers; past the cap no new
    thread is started and the request fails at once, saying why."""
    monkeypatch.setattr(connect, "_lookups", threading.BoundedSemaphore(2))
    resolver["llm.corp.example"] = "hang"
    for _ in range(2):
        text, _took = _list_models("http://llm.corp.example:8000/v1", deadline_s=0.3, connect_s=5)
        assert "did not answer" in text
    text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=30, connect_s=5)
    assert took < 1.0
    assert "name lookup of llm.corp.example not started: earlier lookups" in text
    assert resolver["_calls"] == ["llm.corp.example"] * 2  # the third never reached it


def test_an_ip_address_is_not_looked_up(resolver: dict) -> None:
    """127.0.0.1 connects without the resolver (the patched one would refuse it)."""
    resolver["127.0.0.1"] = socket.gaierror(socket.EAI_AGAIN, "resolver down")
    text, _took = _list_models("http://127.0.0.1:9/v1", deadline_s=5, connect_s=2)
    assert "resolver down" not in text
    assert "refused" in text
    assert resolver["_calls"] == []


def test_families_alternate_from_the_first_one() -> None:
    six = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"::{i}", 80, 0, 0)) for i in (1, 2, 3)]
    four = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 80))]
    assert connect._interleave([*six, *four]) == [six[0], four[0], six[1], six[2]]
    many = four * 40
    assert len(connect._interleave(many)) == connect.MAX_ADDRESSES


# -- several addresses, some black-holed -------------------------------------------------------


@pytest.fixture()
def black_holes() -> Iterator[list[tuple[str, int]]]:
    """Five addresses on 127.0.0.1 that never complete a connect: each a listener with a
    backlog of 0 already holding one connection, so the kernel drops further SYNs."""
    holes: list[socket.socket] = []
    try:
        for _ in range(5):
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen(0)
            filler = socket.socket()
            filler.connect(server.getsockname())
            holes += [server, filler]
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(holes[0].getsockname())
        except TimeoutError:
            pass  # dropped, as wanted
        except OSError as exc:
            pytest.skip(f"this kernel answers a full backlog ({exc}) instead of dropping the SYN")
        else:
            pytest.skip("this kernel accepts past a full backlog: no black hole to test with")
        finally:
            probe.close()
        yield [s.getsockname() for s in holes[::2]]
    finally:
        for sock in holes:
            sock.close()


@pytest.mark.integration
def test_a_black_holed_first_address_costs_a_quarter_second_not_the_connect_timeout(
    resolver: dict, black_holes: list[tuple[str, int]]
) -> None:
    """Before: the first address took the whole connect timeout and the good second one was
    never tried (httpx's own backend tries it, but only after the full timeout)."""
    with fault_server("ok") as good:
        resolver["llm.corp.example"] = [black_holes[0], good.server_address]
        text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=60, connect_s=10)
    assert text == "['fake-model']"
    assert took < 5.0, f"{took:.1f} s with a 10 s connect timeout"


@pytest.mark.integration
def test_refused_and_black_holed_addresses_before_the_good_one(
    resolver: dict, black_holes: list[tuple[str, int]]
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()
    closed.close()  # nothing listens there: refused at once, the next address starts now
    with fault_server("ok") as good:
        resolver["llm.corp.example"] = [refused, *black_holes[:3], good.server_address]
        text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=60, connect_s=10)
    assert text == "['fake-model']"
    assert took < 5.0


@pytest.mark.integration
def test_every_address_black_holed_ends_at_the_deadline_not_per_address(
    resolver: dict, black_holes: list[tuple[str, int]]
) -> None:
    """httpx's own backend gives each address the whole connect timeout: 5 x 10 s here."""
    resolver["llm.corp.example"] = black_holes
    text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=1.5, connect_s=10)
    assert took < 4.0, f"{took:.1f} s for a 1.5 s deadline"
    assert "no connection to http://llm.corp.example:8000/v1" in text


@pytest.mark.integration
def test_every_address_black_holed_ends_at_one_connect_timeout(
    resolver: dict, black_holes: list[tuple[str, int]]
) -> None:
    resolver["llm.corp.example"] = black_holes
    text, took = _list_models("http://llm.corp.example:8000/v1", deadline_s=60, connect_s=1)
    assert took < 3.0, f"{took:.1f} s for five addresses and a 1 s connect timeout"
    assert "no connection to http://llm.corp.example:8000/v1 within 1 s" in text
