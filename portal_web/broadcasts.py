"""短信群发 in the agency workbench: creating broadcast jobs, their preview and live progress, and
approve/start/pause/cancel.

A job is created here (a) from the query store, the yearly 个人权益记录 of the staff member's 统筹区 (one or
all of them), or (b) from an uploaded list (CSV or XLSX: phone and the columns a staff-written notice
refers to, ``sms.notice``). A list is read whole first: a whole-file problem or any row error is shown and
nothing is stored; a clean list becomes a draft job in one transaction with its preview (count, billed
segments, cost estimate) and the audit record of its creation. The draft waits for a second staff member's
approval; the detail page shows sample messages as they will be sent (phone masked, personal data in the
text masked as the templates mask it).

The 个人权益记录 job is created at once in state 'preparing': the sms worker (``hub sms run``) fills it
from the query store in batches, the detail page showing how many persons it has read, and makes it a
draft (counted and costed) when done; preview and approval wait until then.

The page refreshes itself every 5 s while a job is being prepared or sending (a meta refresh: no JavaScript needed). The
job rules are sms.jobs' own: a job is approved by a staff member other than its creator, starts only once
approved, is paused before it is cancelled; the worker sends only inside the broadcast window. Every
action on a job is audited in the transaction that makes it.
"""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hub import pg
from hub.access.context import ReadContext
from hub.access.subject import Subject
from hub.audit import sync_writer as audit
from hub.declarations import access
from hub.errors import NotFound, ValidationFailed
from hub.wagefile import WagefileError
from portal_web.declarations import read_bounded
from portal_web.ui import csrf_of, page
from portal_web.workbench import PREFIX, _chrome, _staff, _today
from sms import jobs, notice

SMS_PREFIX = f"{PREFIX}/sms"
ReadDependency = Callable[..., AsyncIterator[ReadContext]]

STATUS_LABELS = {
    "preparing": "准备收件人名单中",
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
RIGHTS_YEARS = 10  # complete years offered for the 个人权益记录 broadcast
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


def _audit(conn: psycopg.Connection[Any], subject: Subject, action: str, job_id: int, result: str = "ok") -> None:
    audit.event(
        conn,
        f"sms.job.{action}",
        result,
        at=datetime.now(UTC),
        actor_kind=subject.kind.value,
        actor=subject.account_id,
        target_type="sms_job",
        target_id=str(job_id),
        purpose="broadcast",
        client_id=subject.client_id,
        channel=subject.channel,
    )


def _rights_years() -> list[int]:
    """The years offered for the 个人权益记录: the last ten complete ones, newest first (a year without any
    statement in the store makes no job; the store is not scanned just to draw the form)."""
    this_year = _today().year
    return [this_year - i for i in range(1, RIGHTS_YEARS + 1)]


def router(read_dependency: ReadDependency) -> APIRouter:
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=SMS_PREFIX, include_in_schema=False)

    async def new_page(request: Request, subject: Subject, status: int = 200, **extra: Any) -> Response:
        years = _rights_years()
        form = {"title": "", "body": "", "mandatory": False} | extra.pop("form", {})
        return page(
            request,
            "portal/staff_sms_new.html",
            subject=subject,
            status=status,
            title="新建群发任务",
            years=years,
            regions=sorted(subject.region_codes),
            form=form,
            max_rows=request.app.state.settings.wagefile.max_rows,
            max_mb=request.app.state.settings.wagefile.max_file_bytes // (1024 * 1024),
            max_units=notice.MAX_NOTICE_UNITS,
            **extra,
            **_chrome(subject, SMS_PREFIX),
        )

    @r.get("/new")
    async def new(request: Request, ctx: Reading) -> Response:
        return await new_page(request, _sender(_staff(ctx)))

    @r.post("/new/rights")
    async def new_rights(request: Request, ctx: Reading) -> Response:
        """The yearly 个人权益记录 job from the query store: one 统筹区 of the caller's, or all of them."""
        subject = _sender(_staff(ctx))
        form = await request.form(max_files=0, max_fields=5)
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        ep = request.app.state.endpoints
        years = _rights_years()
        try:
            year = int(fields.get("year", ""))
        except ValueError:
            year = 0
        if year not in years:
            return await new_page(request, subject, 422, rights_problem="请从列表中选择权益记录年度")
        region = fields.get("region", "")
        if region and region not in subject.region_codes:
            return await new_page(request, subject, 422, rights_problem="只能选择本人负责的统筹区")
        regions = [region] if region else sorted(subject.region_codes)
        if not regions:
            return await new_page(request, subject, 422, rights_problem="您的账号未设置负责的统筹区，无法创建群发任务")

        def work() -> int:
            # Only a look at the first person here: the sms worker fills the job in batches (state 'preparing').
            with pg.connect(ep.query_db_url) as q:
                _, first, _ = jobs.rights_statement_page(q, year, regions, 0, 1)
            if first is None:
                raise jobs.JobError(f"{year}年度在所选统筹区没有留有手机号码的参保人员，未创建任务")
            with pg.connect(ep.hub_db_url) as conn:
                job_id = jobs.create_rights_statement(conn, year=year, created_by=subject.account_id, regions=regions)
                _audit(conn, subject, "create", job_id, "ok:preparing")
                conn.commit()
                return job_id

        try:
            job_id = await run_in_threadpool(work)
        except jobs.JobError as exc:
            return await new_page(request, subject, 422, rights_problem=str(exc))
        return RedirectResponse(f"{SMS_PREFIX}/{job_id}?created=1", status_code=303)

    @r.post("/new/notice")
    async def new_notice(request: Request, ctx: Reading) -> Response:
        """A staff notice to an uploaded list: checked whole; a draft job only from a clean list."""
        subject = _sender(_staff(ctx))
        form = await request.form(max_files=1, max_fields=6)
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        settings = request.app.state.settings
        limits = settings.wagefile
        mandatory = fields.get("mandatory") == "1"
        title = fields.get("title", "").strip()[:60]
        kept: dict[str, Any] = {"title": title, "body": fields.get("body", "")[:1000], "mandatory": mandatory}

        async def refused(status: int, problem: str, result: str, errors: list[str] | None = None) -> Response:
            await ctx.audit.record(ctx.caller, "sms.job.upload", "sms_job", "", result)
            return await new_page(
                request, subject, status, form=kept, notice_problem=problem, notice_errors=errors or []
            )

        if not title:
            return await refused(422, "请填写任务名称", "refused:title")
        try:
            checked = notice.notice(fields.get("body", ""), mandatory=mandatory, signature=settings.sms.signature)
        except notice.NoticeError as exc:
            return await refused(422, str(exc), "refused:text")
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return await refused(422, "请选择名单文件（CSV 或 xlsx）", "refused:no_file")
        data = await read_bounded(file, limits.max_file_bytes)
        try:
            found = await run_in_threadpool(
                notice.read_list, data, checked, limits, mandatory=mandatory, signature=settings.sms.signature
            )
        except WagefileError as exc:
            return await refused(exc.status, str(exc.detail), f"refused:{exc.extensions.get('code', exc.status)}")
        if not found.ok:
            shown = found.messages()
            more = len(found.errors) - len(shown)
            problem = f"名单中有 {len(found.errors)} 处错误，请修改后重新上传，本次未保存任何数据"
            if more > 0:
                problem += f"（以下列出前 {len(shown)} 处）"
            return await refused(422, problem, f"errors:{len(found.errors)}", shown)

        def work() -> int:
            with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
                job_id = jobs.create_notice(
                    conn, title=title, recipients=found.recipients, created_by=subject.account_id, mandatory=mandatory
                )
                preview = jobs.preview(conn, job_id, settings.sms, samples=0)
                _audit(conn, subject, "create", job_id, f"ok:{preview.recipients}")
                conn.commit()
                return job_id

        try:
            job_id = await run_in_threadpool(work)
        except jobs.JobError as exc:
            return await refused(422, str(exc), "refused:job")
        return RedirectResponse(f"{SMS_PREFIX}/{job_id}?created=1", status_code=303)

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

        def work() -> tuple[dict[str, Any], jobs.Progress, list[str]]:
            with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
                try:
                    job = jobs.get(conn, job_id)
                    return job, jobs.progress(conn, job_id), jobs.samples(conn, job_id, request.app.state.settings.sms)
                except jobs.JobError:
                    raise NotFound() from None

        job, progress, samples = await run_in_threadpool(work)
        return page(
            request,
            "portal/staff_sms_job.html",
            subject=subject,
            title=f"群发任务 {job_id}：{job['title']}",
            job=job,
            progress=progress,
            samples=samples,
            created=request.query_params.get("created") == "1",
            labels=STATUS_LABELS,
            message_labels=MESSAGE_LABELS,
            actions=ACTIONS,
            refresh=job["status"] in ("running", "preparing"),
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
                _audit(conn, subject, action, job_id)
                conn.commit()

        await run_in_threadpool(work)
        return RedirectResponse(f"{SMS_PREFIX}/{job_id}", status_code=303)

    return r
