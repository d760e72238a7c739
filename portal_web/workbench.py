"""经办机构审核工作台 — the agency staff's pages over the declarations of their 统筹区.

The review queue (filters, working days left, overdue marked), claim / release / assign, the detail with
exactly what a declaration changes against the current record and the approve / reject / return forms,
bulk approval of clean items, statistics, and the settings pages (the holiday calendar; 限时办结 per
type and the auto-approve rules). Each page calls the service functions of ``hub.declarations`` with
the caller's subject, so the permission rules are the service's: agency operators and reviewers read,
reviewers decide, the calendar is kept by operators and the system administrator, deadlines and
auto-approve rules by the system administrator.

Every hub-DB change runs in a worker thread on its own connection and commits once; every form carries
the CSRF token. A visitor without a session is sent to the staff login and back (the error renderer
registered for ``/portal/staff`` turns 401 into that redirect); anyone but staff gets the error page.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.context import ReadContext
from hub.access.subject import StaffRole, Subject, SubjectKind
from hub.declarations import access, attachments, deadlines, service, workbench
from hub.declarations import calendar as cal
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType
from hub.errors import ValidationFailed
from portal_web.declarations import attachment_response
from portal_web.ui import csrf_of, page

PREFIX = "/portal/staff"
MAX_CHANGES_SHOWN = 500  # a 10,000-row wage declaration lists its first lines; the flags cover every row
ReadDependency = Callable[..., AsyncIterator[ReadContext]]
T = TypeVar("T")

ROLE_LABELS = {
    StaffRole.OPERATOR: "经办人员",
    StaffRole.REVIEWER: "审核人员",
    StaffRole.SYSTEM_ADMIN: "系统管理员",
    StaffRole.SECURITY_ADMIN: "安全管理员",
    StaffRole.AUDITOR: "安全审计员",
}

# Messages shown after a redirect: the query string carries a code, never text of its own.
NOTICES = {
    "claimed": "已认领，请审核。",
    "released": "已释放，该申报回到待认领队列。",
    "assigned": "已分派。",
    "approved": "已审核通过，指令将报送核心系统。",
    "rejected": "已作不予受理处理，单位可在办件进度中看到原因。",
    "returned": "已退回单位修改。",
    "day-set": "工作日历已更新。",
    "day-cleared": "已恢复为按星期计算。",
    "deadline-set": "办理时限已保存。",
    "rule-set": "自动审核规则已保存。",
}


class NotStaff(access.NotPermitted):
    title = "无权访问"
    default_detail = "此页面仅供经办机构工作人员使用"


def _staff(ctx: ReadContext) -> Subject:
    subject = ctx.subject
    if subject.kind is not SubjectKind.STAFF:
        raise NotStaff()
    return subject


def nav_for(subject: Subject) -> tuple[tuple[str, str], ...]:
    """The staff menu: only the pages the caller's roles open."""
    items: list[tuple[str, str]] = []
    if subject.roles & access.DATA_ROLES:
        items += [(PREFIX, "审核队列"), (f"{PREFIX}/statistics", "办件统计"), (f"{PREFIX}/sms", "短信群发")]
        items.append((f"{PREFIX}/persons/transfers", "个人业务"))  # portal_web.workbench_person
        items.append((f"{PREFIX}/collect/import", "导入采集包"))  # portal_web.collect
    if subject.roles & access.MAINTAINER_ROLES:
        items.append((f"{PREFIX}/calendar", "工作日历"))
    if subject.has_role(StaffRole.SYSTEM_ADMIN):
        items.append((f"{PREFIX}/deadlines", "办理时限"))
    return tuple(items)


def _chrome(subject: Subject, current: str) -> dict[str, Any]:
    roles = "、".join(ROLE_LABELS[r] for r in sorted(subject.roles) if r in ROLE_LABELS)
    return {"nav": nav_for(subject), "current": current, "subject_label": f"经办机构 · {roles or '工作人员'}"}


def _today() -> date:
    return service.local_day(datetime.now(UTC))


def _notice(code: str | None) -> str | None:
    return NOTICES.get(code or "")


def _parse_date(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"{label}格式不正确，应为“年-月-日”，例如2026-10-01") from None


def _type(value: str | None) -> DeclarationType | None:
    if not value:
        return None
    try:
        return DeclarationType(value)
    except ValueError:
        raise ValidationFailed("业务类型不正确") from None


@dataclass(frozen=True)
class Reviewer:
    account_id: str
    name: str


def _reviewers(hub: psycopg.Connection[Any], regions: frozenset[str]) -> list[Reviewer]:
    """Active reviewers sharing one of ``regions`` (for assignment and for naming holders)."""
    rows = hub.execute(
        "select a.id, a.display_name from hub.account a join hub.account_role r on r.account_id = a.id "
        "where a.kind = 'staff' and a.status = 'active' and r.role = %s and a.region_codes && %s::text[] "
        "order by a.display_name, a.id",
        (StaffRole.REVIEWER.value, sorted(regions)),
    ).fetchall()
    return [Reviewer(str(i), str(n)) for i, n in rows]


def _deadline_rows(hub: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    rows = hub.execute(
        "select type, valid_from, working_days, source, updated_by from hub.declaration_deadline "
        "order by type, valid_from desc"
    ).fetchall()
    keys = ("type", "valid_from", "working_days", "source", "updated_by")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    known = {t.value: t.label for t in DeclarationType}
    for r in out:
        r["label"] = known.get(r["type"], r["type"])
    return out


def _auto_rules(hub: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every type with its auto-approve rule (off when none was ever set)."""
    rows = {
        str(t): (bool(e), str(n), str(u))
        for t, e, n, u in hub.execute(
            "select type, enabled, note, updated_by from hub.declaration_auto_rule"
        ).fetchall()
    }
    out = []
    for kind in DeclarationType:
        enabled, note, by = rows.get(kind.value, (False, "", ""))
        out.append({"type": kind.value, "label": kind.label, "enabled": enabled, "note": note, "updated_by": by})
    return out


async def _fields(request: Request, max_fields: int = 20) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The posted form after the CSRF check: single values, and every value of repeated fields."""
    form = await request.form(max_files=0, max_fields=max_fields)
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, single)
    multi: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            multi.setdefault(k, []).append(v)
    return single, multi


def router(read_dependency: ReadDependency) -> APIRouter:
    """The workbench pages; ``read_dependency`` authenticates and rate-limits like every portal page."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def hub_work(request: Request, fn: Callable[[psycopg.Connection[Any]], T], *, commit: bool) -> Any:
        url = request.app.state.endpoints.hub_db_url

        def work() -> T:
            with pg.connect(url) as hub:
                out = fn(hub)
                if commit:
                    hub.commit()
                return out

        return run_in_threadpool(work)

    def both_work(request: Request, fn: Callable[[psycopg.Connection[Any], psycopg.Connection[Any]], T]) -> Any:
        ep = request.app.state.endpoints

        def work() -> T:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as query:
                out = fn(hub, query)
                hub.commit()
                return out

        return run_in_threadpool(work)

    @r.get("")
    async def queue(
        request: Request,
        ctx: Reading,
        type: Annotated[str | None, Query(max_length=40)] = None,
        region: Annotated[str | None, Query(max_length=12)] = None,
        due_by: Annotated[str | None, Query(max_length=10)] = None,
        holder: Annotated[str | None, Query(max_length=64)] = None,
        overdue: Annotated[str | None, Query(max_length=2)] = None,
        msg: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        subject = _staff(ctx)
        access.require_staff_reader(subject)
        kind = _type(type)
        due = _parse_date(due_by, "办结时限") if due_by else None
        today = _today()

        def work(hub: psycopg.Connection[Any]) -> tuple[list[workbench.QueueItem], int, list[Reviewer]]:
            items = workbench.queue(
                hub,
                subject,
                today,
                type_=kind,
                region=region or None,
                due_by=due,
                holder=holder or None,
                overdue_only=overdue == "1",
                limit=200,
            )
            alerts = len(workbench.overdue(hub, subject, today))
            return items, alerts, _reviewers(hub, subject.region_codes)

        items, alerts, reviewers = await hub_work(request, work, commit=False)
        return page(
            request,
            "portal/staff_queue.html",
            subject=subject,
            title="审核队列",
            items=items,
            overdue_count=alerts,
            types=list(DeclarationType),
            regions=sorted(subject.region_codes),
            reviewers=reviewers,
            names={rv.account_id: rv.name for rv in reviewers},
            selected={
                "type": kind.value if kind else "",
                "region": region or "",
                "due_by": due.isoformat() if due else "",
                "holder": holder or "",
                "overdue": overdue == "1",
            },
            is_reviewer=subject.has_role(StaffRole.REVIEWER),
            me=subject.account_id,
            today=today,
            notice=_notice(msg),
            **_chrome(subject, PREFIX),
        )

    @r.get("/declarations/{declaration_id}")
    async def detail(
        request: Request, ctx: Reading, declaration_id: int, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject = _staff(ctx)
        today = _today()

        def work(hub: psycopg.Connection[Any], query: psycopg.Connection[Any]) -> tuple[Any, ...]:
            found = workbench.detail(hub, query, subject, declaration_id, today)
            events = service.history(hub, subject, declaration_id)
            files = attachments.list_for(hub, subject, declaration_id)
            return found, events, _reviewers(hub, subject.region_codes), files

        found, events, reviewers, files = await both_work(request, work)
        decl = found.declaration
        return page(
            request,
            "portal/staff_detail.html",
            subject=subject,
            title=f"申报审核 {decl.reference}",
            decl=decl,
            changes=found.assessment.changes[:MAX_CHANGES_SHOWN],
            change_count=len(found.assessment.changes),
            flags=found.assessment.flags,
            events=events,
            files=files,
            reviewers=reviewers,
            names={rv.account_id: rv.name for rv in reviewers},
            is_reviewer=subject.has_role(StaffRole.REVIEWER),
            me=subject.account_id,
            overdue=decl.status is Status.SUBMITTED and decl.due_date is not None and decl.due_date < today,
            notice=_notice(msg),
            **_chrome(subject, PREFIX),
        )

    @r.get("/declarations/{declaration_id}/attachments/{attachment_id}")
    async def attachment(request: Request, ctx: Reading, declaration_id: int, attachment_id: int) -> Response:
        """A supporting document as a download (staff of the declaration's 统筹区; audited)."""
        subject = _staff(ctx)
        access.require_staff_reader(subject)
        found = await hub_work(
            request, lambda hub: attachments.read(hub, subject, declaration_id, attachment_id), commit=True
        )
        return attachment_response(*found)

    def _decide(action: str) -> Callable[..., Any]:
        async def handler(request: Request, ctx: Reading, declaration_id: int) -> Response:
            subject = _staff(ctx)
            fields, _ = await _fields(request)
            back = f"{PREFIX}/declarations/{declaration_id}"

            def work(hub: psycopg.Connection[Any]) -> str:
                if action == "claim":
                    service.claim(hub, subject, declaration_id)
                    return f"{back}?msg=claimed"
                if action == "release":
                    service.release(hub, subject, declaration_id)
                    return f"{PREFIX}?msg=released"
                if action == "assign":
                    service.assign(hub, subject, declaration_id, fields.get("reviewer", ""))
                    return f"{back}?msg=assigned"
                if action == "approve":
                    note = fields.get("note", "").strip()[:500] or None
                    service.approve(hub, subject, declaration_id, note=note)
                    return f"{PREFIX}?msg=approved"
                if action == "reject":
                    service.reject(hub, subject, declaration_id, fields.get("reason", ""))
                    return f"{PREFIX}?msg=rejected"
                service.return_for_correction(hub, subject, declaration_id, fields.get("reason", ""))
                return f"{PREFIX}?msg=returned"

            target = await hub_work(request, work, commit=True)
            return RedirectResponse(target, status_code=303)

        handler.__name__ = f"decide_{action}"
        return handler

    for action in ("claim", "release", "assign", "approve", "reject", "return"):
        r.add_api_route(f"/declarations/{{declaration_id}}/{action}", _decide(action), methods=["POST"])

    @r.post("/bulk-approve")
    async def bulk_approve(request: Request, ctx: Reading) -> Response:
        subject = _staff(ctx)
        _, multi = await _fields(request, max_fields=1100)
        try:
            ids = [int(v) for v in multi.get("ids", [])]
        except ValueError:
            raise ValidationFailed("申报编号不正确") from None
        if not ids:
            raise ValidationFailed("请勾选要批量审核通过的申报")
        if len(ids) > 1000:
            raise ValidationFailed("一次最多批量审核1000件")

        def work(hub: psycopg.Connection[Any], query: psycopg.Connection[Any]) -> tuple[Any, dict[int, str]]:
            result = service.bulk_approve(hub, query, subject, ids)
            refs = dict(
                hub.execute(
                    "select id, reference from hub.declaration where id = any(%s)", (list(result.skipped),)
                ).fetchall()
            )
            return result, refs

        result, refs = await both_work(request, work)
        return page(
            request,
            "portal/staff_bulk.html",
            subject=subject,
            title="批量审核结果",
            approved=result.approved,
            skipped=[(i, refs.get(i, str(i)), why) for i, why in sorted(result.skipped.items())],
            **_chrome(subject, PREFIX),
        )

    @r.get("/statistics")
    async def statistics(
        request: Request,
        ctx: Reading,
        first: Annotated[str | None, Query(max_length=10)] = None,
        last: Annotated[str | None, Query(max_length=10)] = None,
        region: Annotated[str | None, Query(max_length=12)] = None,
    ) -> Response:
        subject = _staff(ctx)
        today = _today()
        end = _parse_date(last, "结束日期") if last else today
        start = _parse_date(first, "开始日期") if first else end.replace(day=1)
        if (end - start) > timedelta(days=366 * 3):
            raise ValidationFailed("统计期间不能超过三年")

        def work(hub: psycopg.Connection[Any]) -> tuple[workbench.Statistics, list[Reviewer]]:
            return (
                workbench.statistics(hub, subject, start, end, today, region=region or None),
                _reviewers(hub, subject.region_codes),
            )

        stats, reviewers = await hub_work(request, work, commit=False)
        return page(
            request,
            "portal/staff_statistics.html",
            subject=subject,
            title="办件统计",
            stats=stats,
            names={rv.account_id: rv.name for rv in reviewers},
            regions=sorted(subject.region_codes),
            region=region or "",
            **_chrome(subject, f"{PREFIX}/statistics"),
        )

    @r.get("/calendar")
    async def calendar_page(
        request: Request,
        ctx: Reading,
        year: Annotated[int | None, Query(ge=2014, le=2199)] = None,
        msg: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        subject = _staff(ctx)
        access.require_maintainer(subject)
        shown = year or _today().year
        days = await hub_work(request, lambda hub: cal.list_days(hub, shown), commit=False)
        return page(
            request,
            "portal/staff_calendar.html",
            subject=subject,
            title="工作日历维护",
            year=shown,
            days=days,
            notice=_notice(msg),
            **_chrome(subject, f"{PREFIX}/calendar"),
        )

    @r.post("/calendar")
    async def calendar_set(request: Request, ctx: Reading) -> Response:
        subject = _staff(ctx)
        fields, _ = await _fields(request)
        day = _parse_date(fields.get("day", ""), "日期")
        clear = fields.get("action") == "clear"

        def work(hub: psycopg.Connection[Any]) -> None:
            if clear:
                cal.clear_day(hub, subject, day)
            else:
                cal.set_day(
                    hub,
                    subject,
                    day,
                    fields.get("kind", ""),
                    fields.get("note", "")[:100],
                    fields.get("source", "")[:300],
                )

        await hub_work(request, work, commit=True)
        code = "day-cleared" if clear else "day-set"
        return RedirectResponse(f"{PREFIX}/calendar?year={day.year}&msg={code}", status_code=303)

    @r.get("/deadlines")
    async def deadlines_page(
        request: Request, ctx: Reading, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject = _staff(ctx)
        access.require_admin(subject)
        rows, rules = await hub_work(request, lambda hub: (_deadline_rows(hub), _auto_rules(hub)), commit=False)
        return page(
            request,
            "portal/staff_deadlines.html",
            subject=subject,
            title="办理时限设置",
            rows=rows,
            rules=rules,
            types=list(DeclarationType),
            today=_today(),
            notice=_notice(msg),
            **_chrome(subject, f"{PREFIX}/deadlines"),
        )

    @r.post("/deadlines")
    async def deadlines_set(request: Request, ctx: Reading) -> Response:
        subject = _staff(ctx)
        fields, _ = await _fields(request)
        kind = _type(fields.get("type"))
        if kind is None:
            raise ValidationFailed("请选择业务类型")
        valid_from = _parse_date(fields.get("valid_from", ""), "生效日期")
        try:
            days = int(fields.get("days", "").strip())
        except ValueError:
            raise ValidationFailed("办理时限应为1至60个工作日") from None

        def work(hub: psycopg.Connection[Any]) -> None:
            deadlines.set_deadline(hub, subject, kind, valid_from, days, fields.get("source", "")[:300])

        await hub_work(request, work, commit=True)
        return RedirectResponse(f"{PREFIX}/deadlines?msg=deadline-set", status_code=303)

    @r.post("/auto-rules")
    async def auto_rule_set(request: Request, ctx: Reading) -> Response:
        """Let clean declarations of a type be approved on submission, or stop it (system administrator)."""
        subject = _staff(ctx)
        fields, _ = await _fields(request)
        kind = _type(fields.get("type"))
        if kind is None:
            raise ValidationFailed("请选择业务类型")
        enabled = fields.get("enabled") == "1"

        def work(hub: psycopg.Connection[Any]) -> None:
            service.set_auto_rule(hub, subject, kind, enabled=enabled, note=fields.get("note", "")[:300])

        await hub_work(request, work, commit=True)
        return RedirectResponse(f"{PREFIX}/deadlines?msg=rule-set", status_code=303)

    return r
