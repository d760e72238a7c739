"""Request limits as pure ASGI middleware: body size (413 before the body is read) and a response deadline.

Upload paths (``app.state.upload_prefixes``, registered by the areas that take files) get the larger
upload limit; every other path the small one. A declared Content-Length above the limit is refused
before a byte of the body is read; a chunked body is counted and cut off at the limit. A request whose
answer has not started within the deadline gets 503 with Retry-After, so one slow dependency cannot hold
a client for ever.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.config.web import WebSettings
from hub.errors import HubError, PayloadTooLarge, ServiceUnavailable
from hub.http.problem import error_response
from hub.http.request_id import request_id_of


class _BodyTooLarge(Exception):
    pass


def _limit_for(scope: Scope, settings: WebSettings) -> int:
    state = getattr(scope.get("app"), "state", None)
    prefixes: tuple[str, ...] = tuple(getattr(state, "upload_prefixes", ()) or ())
    path = str(scope.get("path", ""))
    return settings.max_upload_bytes if any(path.startswith(p) for p in prefixes) else settings.max_body_bytes


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n // 1024} KB"


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope, self.settings)
        too_large = PayloadTooLarge(f"提交的内容超过 {_mib(limit)} 的上限")
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reply(scope, receive, send, too_large)
            return

        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        started = asyncio.Event()

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        task = asyncio.ensure_future(self.app(scope, counted, watched))
        waiter = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait(
                {task, waiter}, timeout=self.settings.request_timeout_seconds, return_when="FIRST_COMPLETED"
            )
        finally:
            waiter.cancel()
        if not started.is_set() and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._reply(scope, receive, send, deadline_passed())
            return
        try:
            await task
        except _BodyTooLarge:
            if started.is_set():
                raise
            await self._reply(scope, receive, send, too_large)

    async def _reply(self, scope: Scope, receive: Receive, send: Send, error: Any) -> None:
        await limit_response(HTTPConnection(scope), error)(scope, receive, send)


def deadline_passed() -> ServiceUnavailable:
    """The error of a request whose answer has not started within ``request_timeout_seconds``."""
    return ServiceUnavailable("系统繁忙，请稍后再试", retry_after=5)


def limit_response(conn: HTTPConnection, error: HubError) -> Response:
    """The answer of a refused or timed-out request; the connection is closed after it."""
    response = error_response(conn, error, request_id_of(conn))
    response.headers["Connection"] = "close"
    return response
