"""Typed dependencies of the API: rate limit, read-your-writes wait, one query-store snapshot, the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.api.auth import authenticate_and_limit
from hub.access import consistency
from hub.access.cache import CachedReadContext
from hub.access.context import Caller, ReadContext
from hub.access.ratelimit import RateLimiter
from hub.access.subject import Subject
from hub.audit.writer import AuditLog
from hub.db import Pools
from hub.http.request_id import request_id_of

CONSISTENCY_HEADER = "X-Consistency-Token"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def purpose_from(header: str | None) -> str:
    """The audit record's purpose from the first ``X-Purpose`` header (None: absent): at most 64 characters,
    ``query`` when absent or empty."""
    return (header if header is not None else "query")[:64] or "query"


def caller_of(request: Request, subject: Subject) -> Caller:
    return Caller(subject, request_id_of(request), client_ip(request), purpose_from(request.headers.get("x-purpose")))


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
        subject = await authenticate_and_limit(request, route_class)
        pools: Pools = request.app.state.pools
        # A fresh replica or the primary; with a token, only a server that has applied it.
        async with consistency.open_read(pools, token or None, timeout=request.app.state.consistency_timeout) as (
            conn,
            snap,
        ):
            yield CachedReadContext(
                conn,
                caller_of(request, subject),
                audit_log(request),
                snap.as_of,
                event_id=snap.event_id,
                cache=getattr(request.app.state, "read_cache", None),
            )

    return dependency


Reading = Annotated[ReadContext, Depends(reader("read"))]
AuditLogDep = Annotated[AuditLog, Depends(audit_log)]


@asynccontextmanager
async def read_as(request: Request, subject: Subject, route_class: str = "read") -> AsyncIterator[ReadContext]:
    """A ReadContext for ``subject`` resolved by a channel itself (a kiosk's or hotline's person session):
    the same rate limit, snapshot, cache and audit as ``reader`` gives the routes of this package."""
    await limit(request, subject, route_class)
    pools: Pools = request.app.state.pools
    async with consistency.open_read(pools, None, timeout=request.app.state.consistency_timeout) as (conn, snap):
        yield CachedReadContext(
            conn,
            caller_of(request, subject),
            audit_log(request),
            snap.as_of,
            event_id=snap.event_id,
            cache=getattr(request.app.state, "read_cache", None),
        )
