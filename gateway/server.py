"""The web process's HTTP server: uvicorn with the gateway's hot reads taken before the ASGI cycle.

``hub serve`` (and the demo, and the benchmark) run uvicorn with ``GatewayProtocol``, uvicorn's own
httptools protocol with one difference: a request the gateway's fast path serves (``gateway.fast``:
the REST person reads and ``POST /graphql``) is handed to it straight from the parser, and its answer
is written to the socket in one piece (status line, headers and body in one write, where uvicorn's ASGI
cycle writes the head and the body separately). Everything else — parsing, keep-alive and its timeout,
pipelined requests, flow control, ``limit_concurrency``, shutdown, every other request — is uvicorn's
unchanged: the request keeps its uvicorn ``RequestResponseCycle`` (which its body arrives through and
which the connection waits on), only the ASGI application call and the two ``send`` messages are
skipped.

uvicorn's own proxy-header handling is off: the gateway applies ``HUB_WEB__FORWARDED_ALLOW_IPS`` itself
(``hub.http.forwarded``), once per request, for the fast path and the FastAPI app alike.
``tests/gateway/test_server.py`` holds the answers over a real socket equal to the FastAPI app's.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from gateway.fast import GatewayApp, Work

logger = logging.getLogger("uvicorn.error")


class GatewayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; the gateway's fast reads skip the ASGI call (see the module)."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        app = self.app
        self.gateway: GatewayApp | None = app if isinstance(app, GatewayApp) else None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        gateway = self.gateway
        if gateway is not None and app is gateway and gateway.fast_reads is not None:
            scope: Any = cycle.scope
            work = gateway.match_fast(scope)
            if work is not None:
                task = self.loop.create_task(self._run_fast(gateway, cycle, work))
                task.add_done_callback(self.tasks.discard)
                self.tasks.add(task)
                return
        super()._start_asgi_task(cycle, app)

    async def _run_fast(self, gateway: GatewayApp, cycle: RequestResponseCycle, work: Work) -> None:
        """``RequestResponseCycle.run_asgi`` for a fast read: the same failure handling around it."""
        try:
            await gateway.serve_fast(work, cycle.scope, cycle.receive, cycle.send, _Writer(cycle))  # type: ignore[arg-type]
        except BaseException as exc:
            logger.error("Exception in ASGI application\n", exc_info=exc)
            if not cycle.response_started:
                await cycle.send_500_response()
            else:
                cycle.transport.close()
        else:
            if not cycle.response_started and not cycle.disconnected:
                logger.error("ASGI callable returned without starting response.")
                await cycle.send_500_response()
            elif not cycle.response_complete and not cycle.disconnected:
                logger.error("ASGI callable returned without completing response.")
                cycle.transport.close()
        finally:
            cycle.on_response = _nothing


def _nothing() -> None:
    return None


class _Writer:
    """Writes a fast read's 200 answer in one piece, as ``RequestResponseCycle.send`` would in two."""

    __slots__ = ("cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = cycle

    async def __call__(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        cycle = self.cycle
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        if cycle.access_log:
            scope: Any = cycle.scope
            cycle.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                200,
            )
        head = [STATUS_LINE[200]]
        for name, value in cycle.default_headers:
            head += (name, b": ", value, b"\r\n")
        for name, value in headers:  # the fast path's own: content-length first, then fixed ASCII values
            head += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        cycle.transport.write(b"".join(head))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()


# The uvicorn release (major.minor) whose HttpToolsProtocol and RequestResponseCycle internals GatewayProtocol
# was checked against (pyproject.toml pins it; tests/gateway/test_server.py holds the behaviour).
VERIFIED_UVICORN = "0.54"


def protocol_for(version: str) -> type[HttpToolsProtocol] | str:
    """``GatewayProtocol`` on the verified uvicorn release; on another, uvicorn's own httptools protocol with
    a warning: the fast path then answers from inside the ASGI call (``GatewayApp.__call__``), the same
    answers at a little more cost, rather than relying on internals that may have changed."""
    if version.split(".")[:2] == VERIFIED_UVICORN.split("."):
        return GatewayProtocol
    logger.warning(
        "uvicorn %s is not the release the gateway's protocol was checked against (%s): using uvicorn's own",
        version,
        VERIFIED_UVICORN,
    )
    return "httptools"


UVICORN_OPTIONS: dict[str, Any] = {"http": protocol_for(uvicorn.__version__), "proxy_headers": False}


def run(app: Any, **kwargs: Any) -> None:
    """``uvicorn.run`` for the gateway app: ``GatewayProtocol``, uvicorn's proxy headers off (the gateway
    applies its own, ``hub.http.forwarded``)."""
    import uvicorn

    uvicorn.run(app, **UVICORN_OPTIONS, **kwargs)
