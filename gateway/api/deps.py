"""Typed dependencies of the API: rate limit, read-your-writes wait, one query-store snapshot, the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.api.auth import CurrentSubject
from hub.access import consistency
from hub.access.context import Caller, ReadContext
from hub.access.ratelimit import RateLimiter
from hub.access.subject import Subject
from hub.audit.writer import AuditLog
from hub.db import Pools
from hub.http.request_id import request_id_of

CONSISTENCY_HEADER = "X-Consistency-Token"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def caller_of(request: Request, subject: Subject) -> Caller:
    purpose = request.headers.get("x-purpose", "query")[:64] or "query"
    return Caller(subject, request_id_of(request), client_ip(request), purpose)


async def limit(request: Request, subject: Subject, route_class: str) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check(
        route_class, {"client": subject.client_id, "subject": subject.account_id, "ip": client_ip(request)}
    )


def audit_log(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


def reader(route_class: str) -> Callable[..., AsyncIterator[ReadContext]]:
    """A dependency giving the route a ReadContext, after rate limit and any consistency wait."""

    async def dependency(
        request: Request,
        subject: CurrentSubject,
        # 0 means "no token": OpenAPI then shows an optional integer rather than integer-or-null.
        token: Annotated[
            int,
            Header(
                alias=CONSISTENCY_HEADER,
                ge=0,
                lt=2**63,
                description="写操作返回的一致性令牌（核心事务号）；读取将等待查询库追上（最多2秒）",
            ),
        ] = 0,
    ) -> AsyncIterator[ReadContext]:
        await limit(request, subject, route_class)
        pools: Pools = request.app.state.pools
        if token:
            await consistency.wait_until_visible(pools.query, token, timeout=request.app.state.consistency_timeout)
        async with consistency.read_snapshot(pools.query) as (conn, as_of):
            yield ReadContext(conn, caller_of(request, subject), audit_log(request), as_of)

    return dependency


Reading = Annotated[ReadContext, Depends(reader("read"))]
AuditLogDep = Annotated[AuditLog, Depends(audit_log)]
