"""个人网上服务 — 待遇资格认证 status, 养老保险关系转移接续 applications and 权益记录核查 objections: the
person's own pages over ``hub.persons.eligibility``, ``transfers`` and ``objections``.

Only a person's own session reaches these pages (the person id comes from the session); an application
or objection of someone else answers exactly like a missing one. Every form carries the CSRF token and
works without JavaScript; a form with errors is shown again with each error next to its field.

No ``from __future__ import annotations`` here: FastAPI must see the route-local ``Reading`` alias at runtime.
"""

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hub import pg
from hub.access.context import ReadContext
from hub.access.subject import Subject, SubjectKind
from hub.errors import Forbidden, ValidationFailed
from hub.persons import eligibility, objections, transfers
from hub.persons import service as persons
from portal_web.person import NAV
from portal_web.ui import csrf_of, page

PREFIX = "/portal/me"
UPLOAD_PREFIX = f"{PREFIX}/objections/new"
ReadDependency = Callable[..., AsyncIterator[ReadContext]]
T = TypeVar("T")
ItemId = Annotated[int, Path(ge=1, lt=2**63)]

NOTICES = {
    "applied": "申请已提交，经办机构受理后您可在此查看进度。",
    "submitted": "核查申请已提交，经办机构核查后会通过消息和短信通知您。",
}
TARGET_LABELS = {"contribution": "缴费记录", "account": "个人账户"}


class NotAPerson(Forbidden):
    title = "无权访问"
    default_detail = "此页面仅供参保人本人使用，请使用个人账号登录"


def _me(ctx: ReadContext) -> tuple[Subject, int]:
    subject = ctx.subject
    if subject.kind is not SubjectKind.PERSON or subject.person_id is None:
        raise NotAPerson()
    return subject, subject.person_id


async def _chrome(ctx: ReadContext, person_id: int, current: str) -> dict[str, Any]:
    overview = (await persons.get_overview(ctx, person_id)).data
    return {
        "nav": NAV,
        "current": current,
        "subject_label": f"参保人 · {overview.name}" if overview.name else "参保人",
        "as_of": ctx.as_of,
    }


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.identity.clock()
    return now


def _day(value: Any) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def router(read_dependency: ReadDependency) -> APIRouter:
    """The person's service pages; ``read_dependency`` yields the caller's ReadContext."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def db(request: Request, fn: Callable[[psycopg.Connection[Any], psycopg.Connection[Any]], T]) -> Any:
        """``fn(hub, store)`` in a worker thread; the hub transaction commits once when it returns."""
        ep = request.app.state.endpoints

        def work() -> T:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as store:
                out = fn(hub, store)
                hub.commit()
                return out

        return run_in_threadpool(work)

    # 待遇资格认证 ----------------------------------------------------------------------------------

    @r.get("/certification")
    async def certification(request: Request, ctx: Reading) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, f"{PREFIX}/certification")
        now = _now(request)

        def work(hub: psycopg.Connection[Any], store: psycopg.Connection[Any]) -> dict[str, Any]:
            try:
                st = eligibility.status(hub, store, person_id, now)
            except eligibility.NotARetiree:
                return {"retiree": False}
            except eligibility.CycleMissing as exc:
                return {"retiree": True, "problem": exc.detail}
            return {"retiree": True, "cert": st, "history": eligibility.history(hub, person_id)}

        found = await db(request, work)
        return page(
            request,
            "portal/person_cert.html",
            subject=subject,
            title="养老待遇资格认证",
            day=_day,
            today=eligibility.local_day(now),
            channels=eligibility.CHANNEL_LABELS,
            **found,
            **chrome,
        )

    # 关系转移接续 ----------------------------------------------------------------------------------

    async def transfer_list(
        request: Request, ctx: Reading, *, form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:  # fmt: skip
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, f"{PREFIX}/transfers")
        items = await db(request, lambda hub, _: transfers.list_own(hub, subject))
        return page(
            request,
            "portal/person_transfers.html",
            subject=subject,
            status=422 if errors else 200,
            title="养老保险关系转移接续",
            items=items,
            form=form or {"direction": "in", "other_scheme": "110"},
            errors=errors or {},
            notice=notice,
            schemes=transfers.SCHEMES,
            directions=transfers.DIRECTIONS,
            label=transfers.status_label,
            **chrome,
        )

    @r.get("/transfers")
    async def transfer_page(
        request: Request, ctx: Reading, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        return await transfer_list(request, ctx, notice=NOTICES.get(msg or ""))

    @r.post("/transfers")
    async def transfer_apply(request: Request, ctx: Reading) -> Response:
        subject, _ = _me(ctx)
        raw = await request.form(max_files=0, max_fields=12)
        fields = {k: v for k, v in raw.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        form = transfers.TransferForm(
            *(fields.get(k, "")[:300] for k in ("direction", "other_region_code", "other_region_name",
                                                 "other_scheme", "other_agency", "reason", "contact_phone"))
        )  # fmt: skip
        errors = transfers.check_form(form)
        if errors:
            return await transfer_list(request, ctx, form=fields, errors=errors)
        now = _now(request)
        try:
            made = await db(request, lambda hub, store: transfers.apply(hub, store, subject, form, now))
        except ValidationFailed as exc:
            return await transfer_list(request, ctx, form=fields, errors={"form": exc.detail})
        return RedirectResponse(f"{PREFIX}/transfers/{made['id']}?msg=applied", status_code=303)

    @r.get("/transfers/{transfer_id}")
    async def transfer_detail(
        request: Request, ctx: Reading, transfer_id: ItemId, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject, person_id = _me(ctx)
        item, events = await db(request, lambda hub, _: transfers.get_own(hub, subject, transfer_id))
        chrome = await _chrome(ctx, person_id, f"{PREFIX}/transfers")
        return page(
            request,
            "portal/person_transfer_detail.html",
            subject=subject,
            title=f"转移接续申请 {item['reference']}",
            item=item,
            events=events,
            notice=NOTICES.get(msg or ""),
            schemes=transfers.SCHEMES,
            directions=transfers.DIRECTIONS,
            label=transfers.status_label,
            **chrome,
        )

    # 权益记录核查 ----------------------------------------------------------------------------------

    async def objection_list(
        request: Request, ctx: Reading, *, form: dict[str, str], problem: str | None = None,
        notice: str | None = None,
    ) -> Response:  # fmt: skip
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, f"{PREFIX}/objections")
        items = await db(request, lambda hub, _: objections.list_own(hub, subject))
        return page(
            request,
            "portal/person_objections.html",
            subject=subject,
            status=422 if problem else 200,
            title="个人权益记录核查",
            items=items,
            form=form,
            problem=problem,
            notice=notice,
            targets=TARGET_LABELS,
            accounts=objections.ACCOUNTS,
            insurance_names=await _insurance_names(ctx),
            status_label=lambda s: objections.ObjectionStatus(s).label,
            max_files=objections.MAX_FILES,
            max_mb=objections.MAX_FILE_BYTES // (1024 * 1024),
            **chrome,
        )

    @r.get("/objections")
    async def objection_page(
        request: Request,
        ctx: Reading,
        target: Annotated[str, Query(pattern="^(contribution|account)$")] = "contribution",
        period: Annotated[int | None, Query(ge=199001, le=210012)] = None,
        year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
        insurance: Annotated[str, Query(pattern="^[0-9]{0,3}$")] = "",
        account: Annotated[str, Query(pattern="^(BASIC|ANNUITY)?$")] = "",
        msg: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        form = {
            "target": target,
            "year": str(period // 100 if period else year or ""),
            "month": str(period % 100) if period else "",
            "insurance": insurance,
            "account": account,
            "statement": "",
        }
        return await objection_list(request, ctx, form=form, notice=NOTICES.get(msg or ""))

    @r.post("/objections/new")
    async def objection_submit(request: Request, ctx: Reading) -> Response:
        subject, _ = _me(ctx)
        raw = await request.form(max_files=objections.MAX_FILES + 1, max_fields=12)
        fields = {k: v for k, v in raw.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        evidence: list[objections.Evidence] = []
        for _, value in raw.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                data = await value.read(objections.MAX_FILE_BYTES + 1)
                evidence.append(objections.Evidence(value.filename, data))
        form_shown = {
            k: fields.get(k, "")[:600] for k in ("target", "year", "month", "insurance", "account", "statement")
        }

        def number(key: str) -> int | None:
            text = fields.get(key, "").strip()
            return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None

        year = number("year")
        if year is None:
            return await objection_list(request, ctx, form=form_shown, problem="请填写有异议记录的年度")
        form = objections.ObjectionForm(
            target=fields.get("target", ""),
            year=year,
            month=number("month"),
            insurance=fields.get("insurance") or None,
            account=fields.get("account") or None,
            statement=fields.get("statement", "")[:2000],
        )
        now = _now(request)
        try:
            made = await db(request, lambda hub, store: objections.submit(hub, store, subject, form, evidence, now))
        except ValidationFailed as exc:
            return await objection_list(request, ctx, form=form_shown, problem=exc.detail)
        return RedirectResponse(f"{PREFIX}/objections/{made['id']}?msg=submitted", status_code=303)

    @r.get("/objections/{objection_id}")
    async def objection_detail(
        request: Request, ctx: Reading, objection_id: ItemId, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject, person_id = _me(ctx)
        item, files = await db(request, lambda hub, _: objections.get_own(hub, subject, objection_id))
        chrome = await _chrome(ctx, person_id, f"{PREFIX}/objections")
        return page(
            request,
            "portal/person_objection_detail.html",
            subject=subject,
            title=f"权益记录核查 {item['reference']}",
            item=item,
            files=files,
            notice=NOTICES.get(msg or ""),
            targets=TARGET_LABELS,
            accounts=objections.ACCOUNTS,
            insurance_names=await _insurance_names(ctx),
            status_label=objections.ObjectionStatus(item["status"]).label,
            **chrome,
        )

    return r


async def _insurance_names(ctx: ReadContext) -> dict[str, str]:
    cur = await ctx.conn.execute("select value, name from code_table where code_type = 'AAE140'")
    return {str(v): str(n) for v, n in await cur.fetchall()}
