"""A request id for every request: taken from ``X-Request-ID`` when well-formed, else generated."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from contextvars import ContextVar

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
current_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def new_request_id() -> str:
    return secrets.token_hex(12)


def request_id_for(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's id: its last ``X-Request-ID`` header when well-formed, else a new one."""
    return request_id_from(dict(headers).get(b"x-request-id"))


def request_id_from(given: bytes | None) -> str:
    """``request_id_for`` given the value of the last ``X-Request-ID`` header (None: there is none)."""
    text = given.decode("latin-1") if given else ""
    return text if _WELL_FORMED.match(text) else new_request_id()


def with_request_id(headers: Iterable[tuple[bytes, bytes]], rid: bytes) -> list[tuple[bytes, bytes]]:
    """Response headers with any ``X-Request-ID`` replaced by ``rid``, placed last."""
    out = [(k, v) for k, v in headers if k.lower() != b"x-request-id"]
    out.append((b"x-request-id", rid))
    return out


def request_id_of(conn: HTTPConnection) -> str:
    rid = conn.scope.get("state", {}).get("request_id")
    return str(rid) if rid else current_request_id.get()


class RequestIdMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware): sets ``state.request_id`` and echoes the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_for(scope.get("headers", ()))
        scope.setdefault("state", {})["request_id"] = rid
        token = current_request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_request_id(message.get("headers", []), rid.encode())
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
