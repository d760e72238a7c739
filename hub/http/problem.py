"""RFC 9457 ``application/problem+json`` for HubError, request validation and unexpected errors."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import (
    HubError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
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


def problem_response(error: HubError, request_id: str) -> Response:
    body = {**error.problem(), "request_id": request_id}
    headers = {**error.headers(), "X-Request-ID": request_id}
    return Response(orjson.dumps(body), status_code=error.status, media_type=PROBLEM_JSON, headers=headers)


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return problem_response(exc, request_id_of(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: HubError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 401:
        error = Unauthenticated()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    elif exc.status_code == 429:
        error = RateLimited(float((exc.headers or {}).get("Retry-After", 1)))
    elif exc.status_code >= 500:
        error = ServiceUnavailable(str(exc.detail) if exc.status_code == 503 else None)
    else:
        error = ValidationFailed(str(exc.detail))
    response = problem_response(error, request_id_of(request))
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    errors: list[dict[str, Any]] = []
    raw = getattr(exc, "errors", None)
    if callable(raw):
        # Only where and why, never the submitted value (it may be an ID number).
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in raw()]
    return problem_response(ValidationFailed(errors=errors), request_id_of(request))


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id_of(request)
    log.error("unexpected %s in request %s\n%s", type(exc).__name__, rid, redacted_traceback(exc))
    return problem_response(InternalError(), rid)


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
            log.error("unexpected %s in request %s\n%s", type(exc).__name__, rid, redacted_traceback(exc))
            if started:
                return  # too late for a problem response; the client sees a cut-off body
            await problem_response(InternalError(), rid)(scope, receive, send)
