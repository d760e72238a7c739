"""RFC 9457 ``application/problem+json`` for HubError, request validation and unexpected errors.

Server-rendered areas (the login pages now, the portals later) register their path prefix with
``serve_html_errors``: every error of a request under it, from a missing route to an unexpected
exception, is rendered as a plain Chinese HTML page with the same status instead, while ``/api``,
``/graphql`` and ``/oauth`` keep problem+json.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import psycopg
from psycopg_pool import PoolClosed, PoolTimeout
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import (
    TYPE_BASE,
    HubError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from hub.http import html
from hub.http.request_id import current_request_id, request_id_of
from hub.redact import redact

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details (the OpenAPI schema of every error response)."""

    type: str = Field(description="问题类型 URI，程序据此判断")
    title: str = Field(description="问题类型的简短说明")
    status: int = Field(description="HTTP 状态码")
    detail: str = Field(description="本次问题的说明")
    request_id: str = Field(description="请求编号，联系客服时提供")
    retry_after: int | None = Field(None, description="可重试前需等待的秒数（429）")


def redacted_traceback(exc: BaseException) -> str:
    """The traceback for the log, with ID numbers, phones and codes in it masked (DOMAIN.md §6.2)."""
    return redact("".join(traceback.format_exception(exc)))


class AccessDenied(HubError):
    """An HTTP 403 raised by a route or dependency (e.g. a token without the needed scope)."""

    type: ClassVar[str] = TYPE_BASE + "forbidden"
    title: ClassVar[str] = "无权访问"
    status: ClassVar[int] = 403
    default_detail: ClassVar[str] = "您无权执行此操作"


def problem_response(error: HubError, request_id: str) -> Response:
    body = {**error.problem(), "request_id": request_id}
    headers = {**error.headers(), "X-Request-ID": request_id}
    return Response(orjson.dumps(body), status_code=error.status, media_type=PROBLEM_JSON, headers=headers)


# HTML areas -----------------------------------------------------------------------------------
ErrorPageRenderer = Callable[[HTTPConnection, int, str, str, str], Response]
"""``render(conn, status, title, detail, request_id) -> Response`` for an HTML area's error pages."""

_AREAS_KEY = "html_error_areas"


@dataclass(frozen=True)
class HtmlArea:
    prefix: str
    render: ErrorPageRenderer

    def covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")


def serve_html_errors(app: Starlette, prefix: str, render: ErrorPageRenderer = html.error_page) -> None:
    """Render the errors of every request under ``prefix`` as HTML pages (status kept) with ``render``.

    ``/api``, ``/graphql`` and ``/oauth`` stay problem+json whatever is registered. The longest matching
    prefix wins, so a portal may register ``/unit`` and give ``/unit/print`` another renderer.
    """
    if prefix.rstrip("/") in ("", "/api", "/graphql", "/oauth") or not prefix.startswith("/"):
        raise ValueError(f"not an HTML area prefix: {prefix!r}")
    areas: list[HtmlArea] = [a for a in getattr(app.state, _AREAS_KEY, []) if a.prefix != prefix]
    areas.append(HtmlArea(prefix, render))
    areas.sort(key=lambda a: len(a.prefix), reverse=True)
    setattr(app.state, _AREAS_KEY, areas)


def html_area(conn: HTTPConnection) -> HtmlArea | None:
    """The HTML area the request's path belongs to, if any."""
    app = conn.scope.get("app")
    state = getattr(app, "state", None)
    path = conn.scope.get("path", "")
    for area in getattr(state, _AREAS_KEY, None) or ():
        if isinstance(area, HtmlArea) and area.covers(path):
            return area
    return None


def error_response(conn: HTTPConnection, error: HubError, request_id: str) -> Response:
    """problem+json, or the HTML page of the request's area: same status, same headers (Retry-After …)."""
    area = html_area(conn)
    if area is None:
        return problem_response(error, request_id)
    response = area.render(conn, error.status, error.title, error.detail, request_id)
    for name, value in {**error.headers(), "X-Request-ID": request_id}.items():
        response.headers.setdefault(name, value)
    return response


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return error_response(request, exc, request_id_of(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return http_error_response(request, exc)


def http_error_response(request: HTTPConnection, exc: HTTPException) -> Response:
    """The answer to an ``HTTPException`` raised by a route or dependency (the app's handler for it)."""
    error: HubError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 401:
        error = Unauthenticated()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    elif exc.status_code == 403:
        error = AccessDenied(str(exc.detail) if exc.detail else None)
    elif exc.status_code == 429:
        error = RateLimited(float((exc.headers or {}).get("Retry-After", 1)))
    elif exc.status_code >= 500:
        error = ServiceUnavailable(str(exc.detail) if exc.status_code == 503 else None)
    else:
        error = ValidationFailed(str(exc.detail))
    rid = request_id_of(request)
    area = html_area(request)
    if area is not None:
        # The page keeps the exact status; Starlette's default details are English phrases.
        detail = error.default_detail if error.detail.isascii() else error.detail
        response = area.render(request, exc.status_code, error.title, detail, rid)
        for name, value in {**error.headers(), "X-Request-ID": rid}.items():
            response.headers.setdefault(name, value)
    else:
        response = problem_response(error, rid)
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    errors: list[dict[str, Any]] = []
    raw = getattr(exc, "errors", None)
    if callable(raw):
        # Only where and why, never the submitted value (it may be an ID number).
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in raw()]
    if html_area(request) is not None:
        return error_response(request, ValidationFailed("提交的内容不完整或格式不正确"), request_id_of(request))
    return problem_response(ValidationFailed(errors=errors), request_id_of(request))


def unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """A database or Redis that is down or saturated is not a bug: 503 with Retry-After, no traceback."""
    if isinstance(exc, psycopg.OperationalError | PoolTimeout | PoolClosed):
        return ServiceUnavailable("服务暂时繁忙或正在维护，请稍后再试", retry_after=5)
    if isinstance(exc, RedisError | TimeoutError):  # Redis slow or away (redis-py may raise the builtin)
        return ServiceUnavailable("服务暂时繁忙，请稍后再试", retry_after=2)
    return None


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id_of(request)
    if isinstance(exc, ClientDisconnect):  # the client went away mid-request: nothing is wrong here
        log.info("request %s: client disconnected", rid)
        return Response(status_code=499)
    busy = unavailable(exc)
    if busy is not None:
        log.warning("request %s: database unavailable (%s)", rid, type(exc).__name__)
        return error_response(request, busy, rid)
    log.error("unexpected %s in request %s\n%s", type(exc).__name__, rid, redacted_traceback(exc))
    return error_response(request, InternalError(), rid)


def install(app: Starlette, *, validation_error: type[Exception] | None = None) -> None:
    """Render every error of ``app`` as problem+json; pass FastAPI's RequestValidationError if used."""
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(HTTPException, _http_error)
    if validation_error is not None:
        app.add_exception_handler(validation_error, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


class UnexpectedErrorMiddleware:
    """Answers an unexpected exception with the masked 500 problem and does not re-raise it.

    Starlette's outermost error middleware would re-raise after answering, so the server would log the
    raw traceback (exception messages may hold personal numbers); here it is logged once, redacted.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            rid = str(scope.get("state", {}).get("request_id") or current_request_id.get())
            response = unexpected_error_response(HTTPConnection(scope), exc, rid)
            if response is None or started:
                return  # nobody to answer, or too late for a problem response (the client sees a cut-off body)
            await response(scope, receive, send)


def unexpected_error_response(conn: HTTPConnection, exc: Exception, rid: str) -> Response | None:
    """Log an exception no handler took (redacted, once) and the answer to it: 503 for a database or Redis
    that is down, else the masked 500; None when the client went away (nothing to answer)."""
    if isinstance(exc, ClientDisconnect):  # the client went away mid-request: nothing to answer
        log.info("request %s: client disconnected", rid)
        return None
    busy = unavailable(exc)
    if busy is not None:
        log.warning("request %s: database unavailable (%s)", rid, type(exc).__name__)
    else:
        log.error("unexpected %s in request %s\n%s", type(exc).__name__, rid, redacted_traceback(exc))
    return error_response(conn, busy or InternalError(), rid)
