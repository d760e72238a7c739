"""Stable error codes of the app API: every problem+json answer under ``/app/v1`` carries ``code``.

The app switches on ``code`` (it never changes for a given failure); ``title`` and ``detail`` are for the
person reading the screen. The codes:

==========================  ======  =======================================================
code                        status  meaning
==========================  ======  =======================================================
``AUTH_REQUIRED``           401     no token, or an invalid or expired one: log in again
``APP_LOGIN_REQUIRED``      403     a token of another channel (portal, kiosk …): log in through the app
``FORBIDDEN``               403     the token lacks the scope the operation needs
``WRONG_PASSWORD``          400     a password change with a wrong current password (or a locked account)
``WEAK_PASSWORD``           422     a new password that breaks a rule (``rules`` lists each)
``NOT_FOUND``               404     no such record, or not the caller's (both answer alike)
``METHOD_NOT_ALLOWED``      405     wrong HTTP method
``CONFLICT``                409     the record changed meanwhile
``INVALID_REQUEST``         422     a parameter is missing or malformed (``errors`` says which)
``RATE_LIMITED``            429     too many requests; wait ``Retry-After`` seconds
``INTERNAL``                500     unexpected failure; quote ``request_id`` to the hotline
``MINISTRY_UNAVAILABLE``    503     the ministry's service is down or slow: 暂时无法获取，请稍后再试
``SERVICE_UNAVAILABLE``     503     the hub is syncing or a database is unavailable; retry later
``ERROR``                   any     any other failure
==========================  ======  =======================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from pydantic import Field
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import TYPE_BASE, HubError
from hub.http.problem import PROBLEM_JSON, Problem

PREFIX = "/app/v1"

CODES: dict[str, str] = {
    "unauthenticated": "AUTH_REQUIRED",
    "app-channel-required": "APP_LOGIN_REQUIRED",
    "forbidden": "FORBIDDEN",
    "wrong-password": "WRONG_PASSWORD",
    "weak-password": "WEAK_PASSWORD",
    "not-found": "NOT_FOUND",
    "method-not-allowed": "METHOD_NOT_ALLOWED",
    "conflict": "CONFLICT",
    "validation-failed": "INVALID_REQUEST",
    "rate-limited": "RATE_LIMITED",
    "internal": "INTERNAL",
    "ministry-unavailable": "MINISTRY_UNAVAILABLE",
    "service-unavailable": "SERVICE_UNAVAILABLE",
}
FALLBACK_CODE = "ERROR"


def code_of(problem_type: str) -> str:
    return CODES.get(problem_type.rsplit("/", 1)[-1], FALLBACK_CODE)


class AppProblem(Problem):
    """RFC 9457 problem details with the app's stable ``code``."""

    code: str = Field(description="稳定的错误代码，客户端据此判断（见 mobile_api/errors.py）")


class AppChannelRequired(HubError):
    """A token of another channel (portal, kiosk, hotline, partner) on an app-only operation."""

    type: ClassVar[str] = TYPE_BASE + "app-channel-required"
    title: ClassVar[str] = "无权访问"
    status: ClassVar[int] = 403
    default_detail: ClassVar[str] = "请使用掌上12333应用登录后访问"


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry of a problem+json answer."""
    return {"model": AppProblem, "description": description, "content": {PROBLEM_JSON: {}}}


PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "内容未变化（If-None-Match 与 ETag 相同）"},
    404: problem_doc("记录不存在"),
    422: problem_doc("参数不正确（INVALID_REQUEST）"),
    429: problem_doc("请求过于频繁（RATE_LIMITED）"),
    500: problem_doc("系统内部错误（INTERNAL）"),
    503: problem_doc("服务暂不可用（SERVICE_UNAVAILABLE / MINISTRY_UNAVAILABLE）"),
}
PERSONAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PUBLIC_RESPONSES,
    401: problem_doc("未认证（AUTH_REQUIRED）"),
    403: problem_doc("非掌上12333应用的令牌（APP_LOGIN_REQUIRED）或授权范围不足（FORBIDDEN）"),
}


class AppChannelMiddleware:
    """For requests under ``/app/v1`` only: adds ``code`` to every problem+json body, then gzips answers of
    ``minimum_size`` bytes or more for clients that accept it. Other paths pass through untouched."""

    def __init__(self, app: ASGIApp, prefix: str = PREFIX, minimum_size: int = 500) -> None:
        self.app = app
        self.prefix = prefix
        self.gzip = GZipMiddleware(self._coded, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _coded(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def coding_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if headers.get(b"content-type", b"").split(b";")[0] == PROBLEM_JSON.encode():
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            try:
                problem = orjson.loads(body)
                if isinstance(problem, dict) and "code" not in problem:
                    problem["code"] = code_of(str(problem.get("type", "")))
                    body = orjson.dumps(problem)
            except orjson.JSONDecodeError:
                pass
            raw = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            raw.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": raw})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, coding_send)
