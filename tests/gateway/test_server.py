"""The web process's server (gateway/server.py) over a real socket: uvicorn with ``GatewayProtocol``.

The app of ``make_api`` is served by a real ``uvicorn.Server`` and spoken to over raw sockets, so the
tests control pipelining, ``Connection`` and the HTTP version. The answers must equal those of the same
request sent in-process through the TestClient (no uvicorn), with the fast path on and off, ignoring only
the ``date`` and ``server`` headers uvicorn adds; ``FastReads.served`` and a spy on the server's one-piece
writer show which path answered.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import uvicorn

from gateway import server as gateway_server
from gateway.server import UVICORN_OPTIONS, GatewayProtocol
from hub.access.ratelimit import Limit
from tests import dbkit
from tests.api.actors import MISSING_PERSON, app_person, cast
from tests.api.conftest import Api, Province, make_api
from tests.gateway.test_fast_path import _app, _fast

OVERVIEW = "query($id: ID!) { person(id: $id) { overview { personId name idNumber phone regionCode } } }"
IGNORED = (b"date", b"server")  # uvicorn's own headers, absent in-process
RECV_TIMEOUT = 20.0  # a guard against a hung test, not an assertion on speed


# the server ---------------------------------------------------------------------------------------
@contextmanager
def serving(api: Api) -> Iterator[int]:
    """A real uvicorn server for the app of ``api``, with the options of ``hub serve``; yields its port.

    The app's lifespan already ran inside the TestClient, on the event loop of the TestClient's portal
    (anyio's blocking portal, a background thread): the database pools and the Redis client in
    ``app.state`` belong to that loop and cannot be used from another one. So the server does not run its
    own loop in a thread of its own: ``Server.serve`` is started as a task on the portal's loop (its
    thread is the server's background thread), with ``lifespan="off"`` since the app's state is set up.
    ``Server.serve`` installs no signal handlers off the main thread. The listening socket is bound here
    and handed to ``serve`` (no race for a free port); uvicorn closes it at shutdown.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        api.client.app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        log_config=None,  # leave the process's logging configuration alone (other tests share it)
        timeout_graceful_shutdown=10,
        **UVICORN_OPTIONS,
    )
    assert config.http is GatewayProtocol and config.proxy_headers is False
    server = uvicorn.Server(config)
    portal = api.client.portal
    assert portal is not None
    future = portal.start_task_soon(server.serve, [sock])
    try:
        # Wait for the server to listen (serve's startup on the portal's loop).
        while not server.started:
            if future.done():
                future.result()  # raises what stopped it
                pytest.fail("the server stopped before it started")
            portal.call(_tick)
        yield port
    finally:
        server.should_exit = True
        future.result(timeout=30)


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.01)


# a small HTTP/1.1 client over a raw socket -----------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]  # names lowercased, in the order written
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, (name, values)
        return values[0] if values else None

    def json(self) -> Any:
        return orjson.loads(self.body)


class Conn:
    """One client connection: requests written as given, answers read by Content-Length (or chunks)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=RECV_TIMEOUT)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def answer(self) -> Answer:
        status_line = self._line()
        version, status, _ = status_line.split(b" ", 2)
        assert version == b"HTTP/1.1", status_line
        headers = []
        while line := self._line():
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        lengths = [v for k, v in headers if k == b"content-length"]
        if (b"transfer-encoding", b"chunked") in headers:
            assert not lengths
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            assert self._line() == b""
        else:
            assert len(lengths) == 1, headers
            body = self._take(int(lengths[0]))
        return Answer(int(status), headers, body)

    def at_eof(self) -> bool:
        """Whether the server closed the connection (nothing more after the answers read)."""
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


@contextmanager
def connected(port: int) -> Iterator[Conn]:
    conn = Conn(port)
    try:
        yield conn
    finally:
        conn.close()


def wire(api: Api, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> bytes:
    """The request as bytes, with exactly the headers the TestClient sends for it (its defaults included)."""
    request = api.client.build_request(method, path, headers=headers, content=body)
    target = request.url.raw_path
    lines = [method.encode() + b" " + target + b" HTTP/1.1"]
    lines += [k + b": " + v for k, v in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def plain(method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"", version: str = "1.1") -> bytes:
    """A hand-written request (no client defaults)."""
    lines = [f"{method} {path} HTTP/{version}", "Host: testserver"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _comparable(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), v) for k, v in headers if k.lower() not in IGNORED]


# the one-piece writer ------------------------------------------------------------------------------
class _Recorder:
    """Stands in for a cycle's transport while the fast path's writer runs: records each write."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.fixture
def one_piece(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """Every call of ``gateway.server._Writer`` (the fast path's 200 answers): the transport writes it made."""
    calls: list[list[bytes]] = []
    original = gateway_server._Writer.__call__

    async def recording(self: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        writes: list[bytes] = []
        calls.append(writes)
        cycle = self.cycle
        transport = cycle.transport
        cycle.transport = _Recorder(transport, writes)
        try:
            await original(self, headers, body)
        finally:
            cycle.transport = transport

    monkeypatch.setattr(gateway_server._Writer, "__call__", recording)
    return calls


def bearer(api: Api, pid: int) -> str:
    return f"Bearer {api.token(app_person(pid))}"


def gql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": variables or {}})


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


# 1. the same answers as in-process ---------------------------------------------------------------
def _same_as_in_process(
    api: Api,
    conn: Conn,
    one_piece: list[list[bytes]],
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    fast: bool,
) -> Answer:
    """The request over the socket, then in-process with the fast path on and off (same X-Request-ID):
    status, body and headers equal. ``fast``: the fast path answers it itself over the socket."""
    app, on = _app(api), _fast(api)
    h = {"X-Request-ID": f"srv-{uuid.uuid4().hex}"} | headers
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    served, written = on.served, len(one_piece)
    conn.send(wire(api, method, path, h, body))
    got = conn.answer()
    assert on.served == served + (1 if fast else 0), ("answered by the expected path", path, got.body)
    if fast and got.status == 200:
        # A fast 200 answer is written by the server's writer, head and body in one transport write.
        assert len(one_piece) == written + 1
        (write,) = one_piece[-1]
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n" + got.body)
    else:
        assert len(one_piece) == written, "only a fast 200 answer takes the one-piece writer"
    for fast_reads in (on, None):
        app.fast_reads = fast_reads
        try:
            ref = api.client.request(method, path, headers=h, content=body, follow_redirects=False)
        finally:
            app.fast_reads = on
        assert got.status == ref.status_code, (path, got.body, ref.content)
        assert got.body == ref.content, path
        assert _comparable(got.headers) == _comparable(ref.headers.raw), path
    assert got.header(b"x-request-id") == h["X-Request-ID"].encode()
    assert got.header(b"server") == b"uvicorn" and got.header(b"date")  # it did go through uvicorn
    return got


def test_answers_over_the_socket_equal_the_in_process_ones(
    api: Api, province: Province, one_piece: list[list[bytes]]
) -> None:
    c = cast(province)
    auth = bearer(api, c.a)
    with serving(api) as port, connected(port) as conn:
        r = _same_as_in_process(
            api, conn, one_piece, "GET", f"/api/v1/persons/{c.a}/overview", {"Authorization": auth}, fast=True
        )
        assert r.status == 200 and r.json()["data"]["person_id"] == c.a
        assert r.header(b"content-type") == b"application/json"
        r = _same_as_in_process(
            api,
            conn,
            one_piece,
            "POST",
            "/graphql",
            {"Authorization": auth},
            gql_body(OVERVIEW, {"id": str(c.a)}),
            fast=True,
        )
        assert r.status == 200 and r.json()["data"]["person"]["overview"]["personId"] == c.a
        r = _same_as_in_process(
            api,
            conn,
            one_piece,
            "GET",
            f"/api/v1/persons/{MISSING_PERSON}/overview",
            {"Authorization": auth},
            fast=True,
        )
        assert r.status == 404 and r.header(b"content-type") == b"application/problem+json"
        assert r.json()["detail"] == "请求的记录不存在或无权查看"
        r = _same_as_in_process(api, conn, one_piece, "GET", f"/api/v1/persons/{c.a}/overview", {}, fast=False)
        assert r.status == 401 and (r.header(b"www-authenticate") or b"").startswith(b"Bearer")
        r = _same_as_in_process(
            api,
            conn,
            one_piece,
            "GET",
            f"/api/v1/persons/{c.a}/overview",
            {"Authorization": "Bearer not-a-jwt"},
            fast=True,
        )
        assert r.status == 401 and r.json()["title"] == "未认证"
        # A query string on a route that takes parameters: FastAPI answers (uvicorn's ordinary cycle).
        r = _same_as_in_process(
            api,
            conn,
            one_piece,
            "GET",
            f"/api/v1/persons/{c.a}/contributions?year=2025",
            {"Authorization": auth},
            fast=False,
        )
        assert r.status == 200
        # A GraphQL body the fast path reads and turns down: FastAPI answers with the body replayed.
        r = _same_as_in_process(api, conn, one_piece, "POST", "/graphql", {"Authorization": auth}, b"[]", fast=False)
        assert r.status == 400
        # The connection served all of these, one after another.
        r = _same_as_in_process(
            api, conn, one_piece, "GET", f"/api/v1/persons/{c.a}/card", {"Authorization": auth}, fast=True
        )
        assert r.status == 200


def test_rate_limited_answer_over_the_socket_equals_the_in_process_one(
    province: Province, one_piece: list[list[bytes]]
) -> None:
    c = cast(province)
    limits = {"read": {"subject": Limit(0.01, 1)}, "graphql": {"subject": Limit(0.01, 1)}}  # 1 per 100 s
    with (
        make_api(
            province.core_url, province.query_url, province.hub_url, province.redis_url, rate_limits=limits
        ) as api,
        serving(api) as port,
        connected(port) as conn,
    ):
        app, on = _app(api), _fast(api)
        path = f"/api/v1/persons/{c.a}/overview"
        rid = f"srv-{uuid.uuid4().hex}"
        answers: list[tuple[int, bytes, list[tuple[bytes, bytes]]]] = []
        for way in ("socket", "fast", "fastapi"):
            h = {"Authorization": bearer(api, c.a), "X-Request-ID": rid}  # a subject of its own each way
            assert api.client.get(path, headers=h).status_code == 200  # the subject's one request
            if way == "socket":
                served = on.served
                conn.send(wire(api, "GET", path, h))
                got = conn.answer()
                assert on.served == served + 1
                answers.append((got.status, got.body, _comparable(got.headers)))
            else:
                app.fast_reads = on if way == "fast" else None
                try:
                    ref = api.client.get(path, headers=h)
                finally:
                    app.fast_reads = on
                answers.append((ref.status_code, ref.content, _comparable(ref.headers.raw)))
        assert answers[0][0] == 429
        assert answers[0] == answers[1] == answers[2]
        assert dict(answers[0][2])[b"retry-after"] == b"100"
        assert one_piece == []  # the 429 is an ordinary answer, not the 200 writer's


# 2. pipelining ---------------------------------------------------------------------------------------
def test_pipelined_fast_reads_are_answered_in_order(api: Api, province: Province, one_piece: list[list[bytes]]) -> None:
    c = cast(province)
    auth_a, auth_b = bearer(api, c.a), bearer(api, c.b)
    rids = [f"pipe-{i}-{uuid.uuid4().hex}" for i in range(3)]
    requests = [
        wire(api, "GET", f"/api/v1/persons/{c.a}/overview", {"Authorization": auth_a, "X-Request-ID": rids[0]}),
        wire(
            api,
            "POST",
            "/graphql",
            {"Authorization": auth_a, "X-Request-ID": rids[1], "Content-Type": "application/json"},
            gql_body(OVERVIEW, {"id": str(c.a)}),
        ),
        wire(api, "GET", f"/api/v1/persons/{c.b}/overview", {"Authorization": auth_b, "X-Request-ID": rids[2]}),
    ]
    on = _fast(api)
    with serving(api) as port, connected(port) as conn:
        served = on.served
        conn.send(b"".join(requests))  # one sendall: the server reads them together
        first, second, third = (conn.answer() for _ in range(3))
        assert on.served == served + 3 and len(one_piece) == 3
        assert [a.status for a in (first, second, third)] == [200, 200, 200]
        assert [a.header(b"x-request-id") for a in (first, second, third)] == [r.encode() for r in rids]
        assert first.json()["data"]["person_id"] == c.a
        assert second.json()["data"]["person"]["overview"]["personId"] == c.a
        assert third.json()["data"]["person_id"] == c.b
        # Each answer equals the in-process one (same request id).
        ref = api.client.get(
            f"/api/v1/persons/{c.b}/overview", headers={"Authorization": auth_b, "X-Request-ID": rids[2]}
        )
        assert third.body == ref.content
        # The connection stays open and usable after the pipeline.
        conn.send(wire(api, "GET", f"/api/v1/persons/{c.a}/overview", {"Authorization": auth_a}))
        assert conn.answer().status == 200


def test_pipelined_fast_and_ordinary_requests_keep_their_order(
    api: Api, province: Province, one_piece: list[list[bytes]]
) -> None:
    c = cast(province)
    auth = bearer(api, c.a)
    rids = [f"mix-{i}-{uuid.uuid4().hex}" for i in range(5)]
    with serving(api) as port, connected(port) as conn:
        conn.send(
            b"".join(
                [
                    wire(api, "GET", "/healthz", {"X-Request-ID": rids[0]}),
                    wire(
                        api, "GET", f"/api/v1/persons/{c.a}/overview", {"Authorization": auth, "X-Request-ID": rids[1]}
                    ),
                    wire(
                        api,
                        "GET",
                        f"/api/v1/persons/{MISSING_PERSON}/overview",
                        {"Authorization": auth, "X-Request-ID": rids[2]},
                    ),
                    wire(
                        api,
                        "GET",
                        f"/api/v1/persons/{c.a}/contributions?year=2025",
                        {"Authorization": auth, "X-Request-ID": rids[3]},
                    ),
                    wire(
                        api,
                        "POST",
                        "/graphql",
                        {"Authorization": auth, "X-Request-ID": rids[4], "Content-Type": "application/json"},
                        gql_body(OVERVIEW, {"id": str(c.a)}),
                    ),
                ]
            )
        )
        answers = [conn.answer() for _ in rids]
        assert [a.header(b"x-request-id") for a in answers] == [r.encode() for r in rids]
        assert [a.status for a in answers] == [200, 200, 404, 200, 200]
        assert answers[0].json()["status"] in ("ok", "degraded")
        assert answers[1].json()["data"]["person_id"] == c.a
        assert answers[4].json()["data"]["person"]["overview"]["personId"] == c.a
        assert len(one_piece) == 2  # the two fast 200 answers


# 3. Connection: close ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rest", "graphql"])
def test_connection_close_on_a_fast_read(api: Api, province: Province, one_piece: list[list[bytes]], kind: str) -> None:
    c = cast(province)
    auth = bearer(api, c.a)
    on = _fast(api)
    if kind == "rest":
        request = plain("GET", f"/api/v1/persons/{c.a}/overview", [("Authorization", auth), ("Connection", "close")])
    else:
        request = plain(
            "POST",
            "/graphql",
            [("Authorization", auth), ("Content-Type", "application/json"), ("Connection", "close")],
            gql_body(OVERVIEW, {"id": str(c.a)}),
        )
    with serving(api) as port, connected(port) as conn:
        served = on.served
        conn.send(request)
        got = conn.answer()
        assert got.status == 200 and on.served == served + 1 and len(one_piece) == 1
        assert got.header(b"connection") == b"close"
        assert conn.at_eof(), "the server closes the connection after the answer"


def test_http_1_0_without_keep_alive_is_closed(api: Api, province: Province, one_piece: list[list[bytes]]) -> None:
    c = cast(province)
    auth = bearer(api, c.a)
    with serving(api) as port:
        with connected(port) as conn:
            conn.send(plain("GET", f"/api/v1/persons/{c.a}/overview", [("Authorization", auth)], version="1.0"))
            got = conn.answer()
            assert got.status == 200 and got.json()["data"]["person_id"] == c.a and len(one_piece) == 1
            assert got.header(b"connection") == b"close"
            assert conn.at_eof()
        # The control: HTTP/1.1 without Connection: close stays open for a second request.
        with connected(port) as conn:
            conn.send(plain("GET", f"/api/v1/persons/{c.a}/overview", [("Authorization", auth)]))
            got = conn.answer()
            assert got.status == 200 and got.header(b"connection") is None
            conn.send(plain("GET", f"/api/v1/persons/{c.a}/overview", [("Authorization", auth)]))
            assert conn.answer().status == 200


# 4. X-Forwarded-For ---------------------------------------------------------------------------------
def _audit_ip(province: Province, rid: str) -> str:
    (ip,) = dbkit.one(province.hub_url, "select ip from hub.audit_log where request_id = %s", (rid,))
    return str(ip)


def _forwarded_ips(api: Api, province: Province, port: int, forwarded: str | None) -> dict[str, str]:
    """The audit record's client address of a fast read and of a FastAPI read sent with ``forwarded``."""
    c = cast(province)
    auth = bearer(api, c.a)
    on = _fast(api)
    ips = {}
    with connected(port) as conn:
        for kind, path, fast in (
            ("fast", f"/api/v1/persons/{c.a}/overview", True),
            ("fastapi", f"/api/v1/persons/{c.a}/contributions?year=2025", False),
        ):
            rid = f"xff-{uuid.uuid4().hex}"
            headers = [("Authorization", auth), ("X-Request-ID", rid)]
            if forwarded is not None:
                headers.append(("X-Forwarded-For", forwarded))
            served = on.served
            conn.send(plain("GET", path, headers))
            assert conn.answer().status == 200
            assert on.served == served + (1 if fast else 0), kind
            ips[kind] = _audit_ip(province, rid)
    return ips


def test_forwarded_for_from_a_trusted_peer(api: Api, province: Province) -> None:
    # The default trusted peers (127.0.0.1, ::1) include the test's own address.
    with serving(api) as port:
        assert _forwarded_ips(api, province, port, "203.0.113.9") == {"fast": "203.0.113.9", "fastapi": "203.0.113.9"}
        # A proxy chain: the right-most address that is not a trusted proxy.
        assert _forwarded_ips(api, province, port, "198.51.100.7, 203.0.113.9, 127.0.0.1") == {
            "fast": "203.0.113.9",
            "fastapi": "203.0.113.9",
        }
        assert _forwarded_ips(api, province, port, None) == {"fast": "127.0.0.1", "fastapi": "127.0.0.1"}


def test_forwarded_for_from_an_untrusted_peer_is_ignored(province: Province) -> None:
    with (
        make_api(
            province.core_url,
            province.query_url,
            province.hub_url,
            province.redis_url,
            web={"forwarded_allow_ips": "10.9.9.9"},
        ) as api,
        serving(api) as port,
    ):
        assert _forwarded_ips(api, province, port, "203.0.113.9") == {"fast": "127.0.0.1", "fastapi": "127.0.0.1"}


# 5. ordinary requests ---------------------------------------------------------------------------------
def test_requests_the_fast_path_does_not_serve_work(
    api: Api, province: Province, one_piece: list[list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    c = cast(province)
    on = _fast(api)
    with serving(api) as port, connected(port) as conn:
        # uvicorn.Config set the access logger to the server's log level ("warning"): let it log.
        caplog.set_level(logging.INFO, logger="uvicorn.access")
        served = on.served
        conn.send(plain("GET", "/healthz", []))
        got = conn.answer()
        assert got.status == 200 and got.json()["status"] in ("ok", "degraded")
        assert got.header(b"content-type") == b"application/json"
        conn.send(plain("GET", "/openapi.json", []))
        got = conn.answer()
        assert got.status == 200 and "/api/v1/persons/{person_id}/overview" in got.json()["paths"]
        assert on.served == served and one_piece == []
        # The access log line of a fast 200 answer is uvicorn's own line for it.
        conn.send(plain("GET", f"/api/v1/persons/{c.a}/overview", [("Authorization", bearer(api, c.a))]))
        assert conn.answer().status == 200 and len(one_piece) == 1
        local = conn.sock.getsockname()
    lines = [r.args for r in caplog.records if r.name == "uvicorn.access"]
    client = f"{local[0]}:{local[1]}"
    assert (client, "GET", "/healthz", "1.1", 200) in lines
    assert (client, "GET", f"/api/v1/persons/{c.a}/overview", "1.1", 200) in lines


def test_the_protocol_is_used_only_on_the_uvicorn_release_it_was_checked_against(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gateway.server import VERIFIED_UVICORN, protocol_for

    # The pin of pyproject.toml and the release the protocol names agree: the suite runs what production runs.
    assert ".".join(uvicorn.__version__.split(".")[:2]) == VERIFIED_UVICORN
    assert protocol_for(VERIFIED_UVICORN + ".0") is GatewayProtocol
    assert protocol_for(VERIFIED_UVICORN + ".7") is GatewayProtocol
    major, minor = VERIFIED_UVICORN.split(".")
    with caplog.at_level("WARNING", logger="uvicorn.error"):
        assert protocol_for(f"{major}.{int(minor) + 1}.0") == "httptools"
    assert "not the release" in caplog.text
