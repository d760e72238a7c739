"""经办机构工作台 — person services: 待遇资格认证 at the hall counter, 养老保险关系转移接续 handling and
权益记录核查 answers, for operators and reviewers of the 统筹区 concerned.

Hall certification: the staff member reads the retiree's ID card (number and name) and records the
certification; it is audited with the staff account. Transfers and objections of another 统筹区 answer
like missing ones. Each change runs in a worker thread on its own connection and commits once; the person
is notified through unified push. Every form carries the CSRF token.

No ``from __future__ import annotations`` here: FastAPI must see the route-local ``Reading`` alias at runtime.
"""

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.context import ReadContext
from hub.access.rules import DATA_ROLES
from hub.access.subject import Subject, SubjectKind
from hub.errors import Forbidden, NotFound, ValidationFailed
from hub.identity import core_lookup
from hub.persons import eligibility, objections, transfers
from hub.persons import person_services_repository as repo
from portal_web.ui import csrf_of, page
from portal_web.workbench import ROLE_LABELS, nav_for

PREFIX = "/portal/staff/persons"
ReadDependency = Callable[..., AsyncIterator[ReadContext]]
T = TypeVar("T")
ItemId = Annotated[int, Path(ge=1, lt=2**63)]

NOTICES = {
    "moved": "办理进度已更新，申请人可在个人网上服务平台查看。",
    "answered": "已答复，申请人将收到消息通知。",
}
SUBNAV = (
    (f"{PREFIX}/certification", "待遇资格认证"),
    (f"{PREFIX}/transfers", "转移接续"),
    (f"{PREFIX}/objections", "权益记录核查"),
)
ACTIONS = {
    "accepted": "受理",
    "refused": "不予受理",
    "transferring": "开始转移",
    "completed": "办结（已完成）",
}


class NotStaff(Forbidden):
    title = "无权访问"
    default_detail = "此页面仅供经办机构经办或审核人员使用"


def _staff(ctx: ReadContext) -> Subject:
    subject = ctx.subject
    if subject.kind is not SubjectKind.STAFF or not subject.roles & DATA_ROLES:
        raise NotStaff()
    return subject


def _chrome(subject: Subject, current: str) -> dict[str, Any]:
    roles = "、".join(ROLE_LABELS[r] for r in sorted(subject.roles) if r in ROLE_LABELS)
    return {
        "nav": nav_for(subject),
        "current": "/portal/staff/persons/transfers",
        "subnav": SUBNAV,
        "subcurrent": current,
        "subject_label": f"经办机构 · {roles or '工作人员'}",
    }


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.identity.clock()
    return now


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=10)
    single = {k: v[:600] for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, single)
    return single


def _letter_label(direction: str) -> str:
    return "已发联系函" if direction == "in" else "已接收联系函"


def router(read_dependency: ReadDependency) -> APIRouter:
    """The staff pages of the person services; ``read_dependency`` authenticates and rate-limits."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def db(request: Request, fn: Callable[[psycopg.Connection[Any], psycopg.Connection[Any]], T]) -> Any:
        ep = request.app.state.endpoints

        def work() -> T:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as store:
                out = fn(hub, store)
                hub.commit()
                return out

        return run_in_threadpool(work)

    def phone_of(store: psycopg.Connection[Any], person_id: int) -> str | None:
        facts = repo.person_facts(store, person_id)
        return facts.phone if facts else None

    # 待遇资格认证 (大厅) -----------------------------------------------------------------------------

    async def cert_page(
        request: Request, subject: Subject, *, status: int = 200, problem: str | None = None,
        done: dict[str, Any] | None = None,
    ) -> Response:  # fmt: skip
        return page(
            request,
            "portal/staff_person_cert.html",
            subject=subject,
            status=status,
            title="待遇资格认证（大厅核验）",
            problem=problem,
            done=done,
            **_chrome(subject, f"{PREFIX}/certification"),
        )

    @r.get("/certification")
    async def cert_form(request: Request, ctx: Reading) -> Response:
        return await cert_page(request, _staff(ctx))

    @r.post("/certification")
    async def cert_record(request: Request, ctx: Reading) -> Response:
        subject = _staff(ctx)
        fields = await _fields(request)
        ep = request.app.state.endpoints
        now = _now(request)

        def work() -> tuple[int, Any, Any]:
            with (
                pg.connect(ep.hub_db_url) as hub,
                pg.connect(ep.query_db_url, autocommit=True) as store,
                core_lookup.read_only(ep.core_db_url) as core,
            ):
                try:
                    person_id, day = eligibility.certify_at_hall(
                        hub, core, store, subject, document_type=fields.get("document_type", "01"),
                        document_number=fields.get("document_number", ""), name=fields.get("name", ""), now=now,
                    )  # fmt: skip
                except Exception:
                    hub.commit()  # the refusal's audit record stays
                    raise
                st = eligibility.status(hub, store, person_id, now)
                hub.commit()
                return person_id, day, st

        try:
            person_id, day, st = await run_in_threadpool(work)
        except (ValidationFailed, NotFound) as exc:
            return await cert_page(request, subject, status=exc.status, problem=exc.detail)
        return await cert_page(
            request,
            subject,
            done={"person_id": person_id, "day": f"{day.year}年{day.month}月{day.day}日",
                  "until": f"{st.valid_until.year}年{st.valid_until.month}月{st.valid_until.day}日"},
        )  # fmt: skip

    # 转移接续 --------------------------------------------------------------------------------------

    @r.get("/transfers")
    async def transfer_queue(
        request: Request, ctx: Reading, all: Annotated[str | None, Query(max_length=2)] = None
    ) -> Response:
        subject = _staff(ctx)
        items = await db(request, lambda hub, _: transfers.list_for_staff(hub, subject, open_only=all != "1"))
        return page(
            request,
            "portal/staff_person_transfers.html",
            subject=subject,
            title="养老保险关系转移接续",
            items=items,
            show_all=all == "1",
            schemes=transfers.SCHEMES,
            directions=transfers.DIRECTIONS,
            label=transfers.status_label,
            **_chrome(subject, f"{PREFIX}/transfers"),
        )

    @r.get("/transfers/{transfer_id}")
    async def transfer_detail(
        request: Request, ctx: Reading, transfer_id: ItemId, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject = _staff(ctx)
        item, events = await db(request, lambda hub, _: transfers.get_for_staff(hub, subject, transfer_id))
        current = transfers.TransferStatus(item["status"])
        actions = [
            (s.value, _letter_label(item["direction"]) if s is transfers.TransferStatus.LETTER else ACTIONS[s.value])
            for s in sorted(transfers.NEXT[current])
        ]
        return page(
            request,
            "portal/staff_person_transfer.html",
            subject=subject,
            title=f"转移接续 {item['reference']}",
            item=item,
            events=events,
            actions=actions,
            notice=NOTICES.get(msg or ""),
            schemes=transfers.SCHEMES,
            directions=transfers.DIRECTIONS,
            label=transfers.status_label,
            **_chrome(subject, f"{PREFIX}/transfers"),
        )

    @r.post("/transfers/{transfer_id}/advance")
    async def transfer_advance(request: Request, ctx: Reading, transfer_id: ItemId) -> Response:
        subject = _staff(ctx)
        fields = await _fields(request)
        now = _now(request)
        push = request.app.state.settings.push

        def work(hub: psycopg.Connection[Any], store: psycopg.Connection[Any]) -> None:
            item, _ = transfers.get_for_staff(hub, subject, transfer_id)
            transfers.advance(
                hub, subject, transfer_id, fields.get("target", ""), note=fields.get("note", ""), now=now,
                phone=phone_of(store, int(item["person_id"])), push=push,
            )  # fmt: skip

        await db(request, work)
        return RedirectResponse(f"{PREFIX}/transfers/{transfer_id}?msg=moved", status_code=303)

    # 权益记录核查 ----------------------------------------------------------------------------------

    @r.get("/objections")
    async def objection_queue(
        request: Request, ctx: Reading, all: Annotated[str | None, Query(max_length=2)] = None
    ) -> Response:
        subject = _staff(ctx)
        items = await db(request, lambda hub, _: objections.list_for_staff(hub, subject, open_only=all != "1"))
        return page(
            request,
            "portal/staff_person_objections.html",
            subject=subject,
            title="个人权益记录核查",
            items=items,
            show_all=all == "1",
            accounts=objections.ACCOUNTS,
            status_label=lambda s: objections.ObjectionStatus(s).label,
            **_chrome(subject, f"{PREFIX}/objections"),
        )

    @r.get("/objections/{objection_id}")
    async def objection_detail(
        request: Request, ctx: Reading, objection_id: ItemId, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject = _staff(ctx)
        item, files = await db(request, lambda hub, _: objections.get_for_staff(hub, subject, objection_id))
        return page(
            request,
            "portal/staff_person_objection.html",
            subject=subject,
            title=f"权益记录核查 {item['reference']}",
            item=item,
            files=files,
            notice=NOTICES.get(msg or ""),
            accounts=objections.ACCOUNTS,
            status_label=objections.ObjectionStatus(item["status"]).label,
            **_chrome(subject, f"{PREFIX}/objections"),
        )

    @r.get("/objections/{objection_id}/files/{file_id}")
    async def objection_file(request: Request, ctx: Reading, objection_id: ItemId, file_id: ItemId) -> Response:
        """A piece of evidence as a download (staff of the objection's 统筹区; audited)."""
        subject = _staff(ctx)
        now = _now(request)
        found = await db(request, lambda hub, _: objections.file_for_staff(hub, subject, objection_id, file_id, now))
        ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[found["content_type"]]
        return Response(
            bytes(found["data"]),
            media_type=found["content_type"],
            headers={
                "Content-Disposition": f'attachment; filename="evidence-{file_id}.{ext}"; '
                f"filename*=UTF-8''{quote(str(found['filename']), safe='')}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    @r.post("/objections/{objection_id}/answer")
    async def objection_answer(request: Request, ctx: Reading, objection_id: ItemId) -> Response:
        subject = _staff(ctx)
        fields = await _fields(request)
        now = _now(request)
        push = request.app.state.settings.push

        def work(hub: psycopg.Connection[Any], store: psycopg.Connection[Any]) -> None:
            item, _ = objections.get_for_staff(hub, subject, objection_id)
            objections.answer(
                hub, subject, objection_id, fields.get("target", ""), fields.get("answer", ""), now=now,
                phone=phone_of(store, int(item["person_id"])), push=push, store=store,
            )  # fmt: skip

        await db(request, work)
        return RedirectResponse(f"{PREFIX}/objections/{objection_id}?msg=answered", status_code=303)

    return r
