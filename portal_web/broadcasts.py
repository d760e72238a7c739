"""短信群发 in the agency workbench: the broadcast jobs with live progress, and approve/start/pause/cancel.

The page refreshes itself every 5 s while a job is sending (a meta refresh: no JavaScript needed). The
job rules are sms.jobs' own: a job is approved by a staff member other than its creator, starts only once
approved, is paused before it is cancelled; the worker sends only inside the broadcast window.
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.context import ReadContext
from hub.access.subject import Subject
from hub.declarations import access
from hub.errors import NotFound, ValidationFailed
from portal_web.ui import csrf_of, page
from portal_web.workbench import PREFIX, _chrome, _staff
from sms import jobs

SMS_PREFIX = f"{PREFIX}/sms"
ReadDependency = Callable[..., AsyncIterator[ReadContext]]

STATUS_LABELS = {
    "draft": "草稿（待预览、待审批）",
    "approved": "已审批，待开始",
    "running": "发送中",
    "paused": "已暂停",
    "done": "已完成",
    "cancelled": "已取消",
}
MESSAGE_LABELS = {
    "created": "待发送",
    "queued": "排队中",
    "sent": "已提交运营商",
    "delivered": "已送达",
    "failed": "失败",
    "unknown": "状态未知",
}
ACTIONS = {"approve": "审批通过", "start": "开始发送", "pause": "暂停", "cancel": "取消"}


def _sender(subject: Subject) -> Subject:
    if not subject.roles & access.DATA_ROLES:
        raise access.NotPermitted("短信群发仅限经办和审核人员")
    return subject


def _jobs(hub_url: str) -> list[dict[str, Any]]:
    with pg.connect(hub_url) as conn:
        cur = conn.execute(
            "select j.id, j.title, j.kind, j.status, j.recipients, j.segments, j.cost_estimate, j.created_by, "
            "j.approved_by, j.started_at, count(m.id) filter (where m.status not in ('created', 'queued')) "
            "from hub.sms_job j left join hub.sms_message m on m.job_id = j.id "
            "group by j.id order by j.id desc limit 50"
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) | {"finished": row[-1]} for row in cur.fetchall()]


def router(read_dependency: ReadDependency) -> APIRouter:
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=SMS_PREFIX, include_in_schema=False)

    @r.get("")
    async def listing(request: Request, ctx: Reading) -> Response:
        subject = _sender(_staff(ctx))
        rows = await run_in_threadpool(_jobs, request.app.state.endpoints.hub_db_url)
        return page(
            request,
            "portal/staff_sms.html",
            subject=subject,
            title="短信群发",
            jobs=rows,
            labels=STATUS_LABELS,
            **_chrome(subject, SMS_PREFIX),
        )

    @r.get("/{job_id}")
    async def detail(request: Request, ctx: Reading, job_id: int) -> Response:
        subject = _sender(_staff(ctx))

        def work() -> tuple[dict[str, Any], jobs.Progress]:
            with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
                try:
                    return jobs.get(conn, job_id), jobs.progress(conn, job_id)
                except jobs.JobError:
                    raise NotFound() from None

        job, progress = await run_in_threadpool(work)
        return page(
            request,
            "portal/staff_sms_job.html",
            subject=subject,
            title=f"群发任务 {job_id}：{job['title']}",
            job=job,
            progress=progress,
            labels=STATUS_LABELS,
            message_labels=MESSAGE_LABELS,
            actions=ACTIONS,
            refresh=job["status"] == "running",
            **_chrome(subject, SMS_PREFIX),
        )

    @r.post("/{job_id}/{action}")
    async def act(request: Request, ctx: Reading, job_id: int, action: str) -> Response:
        subject = _sender(_staff(ctx))
        form = await request.form(max_files=0, max_fields=5)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        if action not in ACTIONS:
            raise NotFound()

        def work() -> None:
            with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
                try:
                    if action == "approve":
                        jobs.approve(conn, job_id, subject.account_id)
                    else:
                        {"start": jobs.start, "pause": jobs.pause, "cancel": jobs.cancel}[action](conn, job_id)
                except jobs.JobError as exc:
                    raise ValidationFailed(str(exc)) from None
                conn.commit()

        await run_in_threadpool(work)
        return RedirectResponse(f"{SMS_PREFIX}/{job_id}", status_code=303)

    return r
