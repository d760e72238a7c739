"""REST: the audit log, for the auditor role only (``/api/v1/audit/records``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gateway.api.auth import CurrentSubject
from gateway.api.deps import AuditLogDep, caller_of, limit
from gateway.api.errors import ERROR_RESPONSES
from hub.audit import service
from hub.audit.service import AuditPage
from hub.db import Pools, WriteConnection

router = APIRouter(prefix="/audit", tags=["审计"], responses=ERROR_RESPONSES)

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # PostgreSQL text cannot hold NUL; no control characters at all


@router.get("/records", summary="审计记录查询")
async def list_records(
    request: Request,
    subject: CurrentSubject,
    audit: AuditLogDep,
    target_type: Annotated[
        str | None, Query(description="对象类型：person、unit …", max_length=16, pattern=NO_CONTROL)
    ] = None,
    target_id: Annotated[str | None, Query(description="对象编号", max_length=32, pattern=NO_CONTROL)] = None,
    cursor: Annotated[str | None, Query(description="分页游标", max_length=64)] = None,
    limit_: Annotated[int | None, Query(alias="limit", description="每页条数（1–200）", ge=1, le=200)] = None,
) -> AuditPage:
    """Audit records, newest first, optionally of one subject. Only the auditor (审计管理员) may query."""
    await limit(request, subject, "audit")
    pools: Pools = request.app.state.pools
    async with pools.hub.connection() as conn:
        return await service.list_records(
            WriteConnection(conn),
            caller_of(request, subject),
            audit,
            target_type=target_type,
            target_id=target_id,
            cursor=cursor,
            limit=limit_,
        )
