"""The unit's declarations: the annual wage declaration (template, upload, row errors, preview, submit),
申报业务办件进度 (every submission's state and history) and withdrawal.

An upload is checked as a whole before anything is stored: a refused or faulty file leaves only an audit
record and, for faulty rows, an annotated workbook the clerk can download for 30 minutes. A clean file
becomes a preview whose token is also the idempotency key of the declaration, so pressing 提交 twice,
or reloading, never creates two.
"""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hub import pg
from hub.access.context import ReadContext
from hub.crypto import columns as sealed
from hub.declarations import attachments
from hub.declarations import service as declarations
from hub.declarations.states import Status
from hub.errors import ValidationFailed
from hub.persons.estimate_inputs import region_params
from hub.rules.params import ParameterMissing
from hub.rules.period import Period
from hub.units import service as units
from hub.wagefile import RosterEntry, WagefileError, preview, read_declaration
from hub.wagefile import declaration_template as wage_template
from portal_web import uploads
from portal_web.ui import csrf_of, page
from portal_web.unit import NAV, _chrome, _operator
from portal_web.uploads import XLSX

UPLOAD_PATH = "/portal/unit/wages/upload"
ATTACHMENT_PREFIX = "/portal/unit/attachments/"  # POST {prefix}{declaration_id}: a supporting document
AREA = "wage"  # of the kept uploads (portal_web.uploads)
ReadDependency = Callable[..., AsyncIterator[ReadContext]]


def _roster(query_url: str, unit_id: int) -> list[RosterEntry]:
    """The unit's current staff with full identifiers, for matching only (never shown unmasked)."""
    with pg.connect(query_url) as conn:
        rows = conn.execute(
            "select p.person_id, p.id_number_enc, p.name from unit_roster r join person_overview p "
            "using (person_id) where r.unit_id = %s and r.end_date is null and p.id_number_enc is not null "
            "order by p.person_id",
            (unit_id,),
        ).fetchall()
        rows = sealed.open_column(conn, sealed.PERSON_ID_NUMBER, rows, key_at=0, value_at=1)
    return [RosterEntry(str(pid), str(idn), str(name)) for pid, idn, name in rows]


ATTACHMENT_NOTICES = {"attached": "附件已上传。", "removed": "附件已删除。"}


async def read_bounded(file: UploadFile, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of the upload (the request body limit bounds the spooled part), so a
    file over the limit is recognised without reading it whole."""
    chunks: list[bytes] = []
    seen = 0
    while seen <= limit:
        chunk = await file.read(min(64 << 10, limit + 1 - seen))
        if not chunk:
            break
        chunks.append(chunk)
        seen += len(chunk)
    return b"".join(chunks)


def attachment_response(attachment: attachments.Attachment, data: bytes) -> Response:
    """A document as a download: never shown inline, never sniffed, never cached."""
    ascii_name = f"attachment-{attachment.id}.{attachments.EXTENSIONS[attachment.media_type]}"
    return Response(
        data,
        media_type=attachment.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(attachment.filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def _default_year() -> int:
    return datetime.now(UTC).year


def _years() -> list[int]:
    now = _default_year()
    return [now + 1, now, now - 1, now - 2]


def router(read_dependency: ReadDependency) -> APIRouter:
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix="/portal/unit", include_in_schema=False)

    def chrome(ctx: ReadContext, current: str) -> dict[str, Any]:
        return {**_chrome(ctx, current), "nav": NAV}

    @r.get("/wages")
    async def wages(
        request: Request, ctx: Reading, year: Annotated[int | None, Query(ge=2014, le=2199)] = None
    ) -> Response:
        subject, _ = _operator(ctx)
        return page(
            request,
            "portal/unit_wages.html",
            subject=subject,
            title="年度缴费工资申报",
            year=year or _default_year(),
            years=_years(),
            **chrome(ctx, "/portal/unit/wages"),
        )

    @r.get("/wages/template.xlsx")
    async def template(request: Request, ctx: Reading, year: Annotated[int, Query(ge=2014, le=2199)]) -> Response:
        _, unit_id = _operator(ctx)
        unit = (await units.get_overview(ctx, unit_id)).data
        roster = await run_in_threadpool(_roster, request.app.state.endpoints.query_db_url, unit_id)
        await ctx.audit.record(ctx.caller, "unit.wage_template", "unit", str(unit_id), "ok")
        body = wage_template(
            roster, year=year - 1, unit_name=unit.name or str(unit_id), settings=request.app.state.settings.wagefile
        )
        return Response(
            body,
            media_type=XLSX,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''wages-{year}.xlsx",
                "Cache-Control": "no-store",
            },
        )

    @r.post("/wages/upload")
    async def upload(request: Request, ctx: Reading) -> Response:
        subject, unit_id = _operator(ctx)
        form = await request.form(max_files=1, max_fields=10)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        file = form.get("file")
        try:
            year = int(str(form.get("year", "")))
        except ValueError:
            raise ValidationFailed("请选择申报年度") from None
        if year not in _years():
            raise ValidationFailed("申报年度不正确")
        base = {
            "subject": subject,
            "title": "年度缴费工资申报",
            "year": year,
            "years": _years(),
            **chrome(ctx, "/portal/unit/wages"),
        }
        if not isinstance(file, UploadFile) or not file.filename:
            return page(request, "portal/unit_wages.html", status=422, problem="请选择要上传的文件", **base)
        data = await file.read()
        roster = await run_in_threadpool(_roster, request.app.state.endpoints.query_db_url, unit_id)
        try:
            checked = await run_in_threadpool(
                read_declaration, data, roster, year=year - 1, settings=request.app.state.settings.wagefile
            )
        except WagefileError as exc:
            await ctx.audit.record(
                ctx.caller,
                "unit.wage_upload",
                "unit",
                str(unit_id),
                f"refused:{exc.extensions.get('code', exc.status)}",
            )
            return page(request, "portal/unit_wages.html", status=exc.status, problem=exc.detail, **base)
        if not checked.ok:
            await ctx.audit.record(
                ctx.caller, "unit.wage_upload", "unit", str(unit_id), f"errors:{len(checked.errors)}"
            )
            return page(
                request,
                "portal/unit_wages.html",
                status=422,
                errors=[e.describe() for e in checked.errors],
                error_count=len(checked.errors),
                annotated_token=await uploads.keep_annotated(request, AREA, unit_id, checked),
                **base,
            )
        rows = checked.require_clean()
        unit = (await units.get_overview(ctx, unit_id)).data
        try:
            params = await region_params(ctx.conn, unit.region_code or "")
            shown = preview(rows, params, Period(year, 1), funding=unit.funding or "1")
        except ParameterMissing:
            return page(
                request,
                "portal/unit_wages.html",
                status=422,
                problem=f"{year}年度的缴费基数上下限或费率尚未公布，暂不能预览，请待经办机构公布后再申报",
                **base,
            )
        payload = {"year": year, "rows": [{"person_id": int(w.person_id), "monthly_wage": str(w.wage)} for w in rows]}
        token = await uploads.keep(request, AREA, unit_id, payload=payload)
        await ctx.audit.record(ctx.caller, "unit.wage_upload", "unit", str(unit_id), f"ok:{len(rows)}")
        return page(request, "portal/unit_wages.html", preview=shown, token=token, **base)

    # (The path parameter is not called ``token``: the read dependency has a header parameter of that name.)
    @r.get("/wages/annotated/{ref}")
    async def annotated(request: Request, ctx: Reading, ref: str) -> Response:
        _, unit_id = _operator(ctx)
        return await uploads.annotated_response(request, AREA, unit_id, ref, "wages-errors.xlsx")

    @r.post("/wages/submit")
    async def submit(request: Request, ctx: Reading) -> Response:
        subject, unit_id = _operator(ctx)
        form = await request.form(max_files=0, max_fields=10)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        csrf_of(request).check(request, fields)
        token = fields.get("token", "")
        stored = await uploads.load(request, AREA, unit_id, token)
        if stored is None or "payload" not in stored:
            raise ValidationFailed("预览已过期，请重新上传文件")
        ep = request.app.state.endpoints

        def work() -> int:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url) as query:
                decl = declarations.create(hub, query, subject, "annual_wage", stored["payload"], token, submit=True)
                hub.commit()
                return decl.id

        declaration_id = await run_in_threadpool(work)
        return RedirectResponse(f"/portal/unit/declarations/{declaration_id}", status_code=303)

    @r.get("/declarations")
    async def listing(request: Request, ctx: Reading, status: Annotated[Status | None, Query()] = None) -> Response:
        subject, _ = _operator(ctx)
        ep = request.app.state.endpoints

        def work() -> list[Any]:
            with pg.connect(ep.hub_db_url) as hub:
                return declarations.list_for_unit(hub, subject, status=status, limit=100)

        items = await run_in_threadpool(work)
        return page(
            request,
            "portal/unit_declarations.html",
            subject=subject,
            title="申报业务办件进度",
            items=items,
            selected_status=status,
            statuses=list(Status),
            **chrome(ctx, "/portal/unit/declarations"),
        )

    async def detail_page(
        request: Request,
        ctx: ReadContext,
        subject: Any,
        declaration_id: int,
        *,
        status: int = 200,
        problem: str | None = None,
        notice: str | None = None,
    ) -> Response:
        ep = request.app.state.endpoints
        limits = request.app.state.settings.declarations

        def work() -> tuple[Any, list[Any], list[attachments.Attachment]]:
            with pg.connect(ep.hub_db_url) as hub:
                return (
                    declarations.get(hub, subject, declaration_id),
                    declarations.history(hub, subject, declaration_id),
                    attachments.list_for(hub, subject, declaration_id),
                )

        decl, events, files = await run_in_threadpool(work)
        return page(
            request,
            "portal/unit_declaration.html",
            status=status,
            subject=subject,
            title=f"申报详情 {decl.reference}",
            decl=decl,
            events=events,
            files=files,
            files_editable=attachments.editable(decl),
            files_limits={
                "size": attachments.mb(limits.attachment_max_bytes),
                "count": limits.attachment_max_count,
                "total": attachments.mb(limits.attachment_max_total_bytes),
            },
            attachment_action=f"{ATTACHMENT_PREFIX}{decl.id}",
            problem=problem,
            notice=notice,
            **chrome(ctx, "/portal/unit/declarations"),
        )

    @r.get("/declarations/{declaration_id}")
    async def detail(
        request: Request, ctx: Reading, declaration_id: int, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        subject, _ = _operator(ctx)
        return await detail_page(request, ctx, subject, declaration_id, notice=ATTACHMENT_NOTICES.get(msg or ""))

    @r.post("/attachments/{declaration_id}")
    async def attach(request: Request, ctx: Reading, declaration_id: int) -> Response:
        """Add a supporting document (one file per request, checked by content before anything is stored)."""
        subject, _ = _operator(ctx)
        form = await request.form(max_files=1, max_fields=5)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return await detail_page(request, ctx, subject, declaration_id, status=422, problem="请选择要上传的文件")
        settings = request.app.state.settings.declarations
        data = await read_bounded(file, settings.attachment_max_bytes)
        ep = request.app.state.endpoints
        filename = file.filename

        def work() -> None:
            with pg.connect(ep.hub_db_url) as hub:
                attachments.attach(hub, subject, declaration_id, filename, data, settings)
                hub.commit()

        try:
            await run_in_threadpool(work)
        except (attachments.AttachmentRefused, attachments.AttachmentTooLarge) as exc:
            await ctx.audit.record(
                ctx.caller,
                "declaration.attachment.add",
                "declaration",
                str(declaration_id),
                f"refused:{exc.extensions.get('code', exc.status)}",
            )
            return await detail_page(request, ctx, subject, declaration_id, status=exc.status, problem=exc.detail)
        return RedirectResponse(f"/portal/unit/declarations/{declaration_id}?msg=attached", status_code=303)

    @r.post("/declarations/{declaration_id}/attachments/{attachment_id}/remove")
    async def remove_attachment(request: Request, ctx: Reading, declaration_id: int, attachment_id: int) -> Response:
        subject, _ = _operator(ctx)
        form = await request.form(max_files=0, max_fields=5)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        ep = request.app.state.endpoints

        def work() -> None:
            with pg.connect(ep.hub_db_url) as hub:
                attachments.remove(hub, subject, declaration_id, attachment_id)
                hub.commit()

        try:
            await run_in_threadpool(work)
        except attachments.AttachmentRefused as exc:
            return await detail_page(request, ctx, subject, declaration_id, status=exc.status, problem=exc.detail)
        return RedirectResponse(f"/portal/unit/declarations/{declaration_id}?msg=removed", status_code=303)

    @r.get("/declarations/{declaration_id}/attachments/{attachment_id}")
    async def download_attachment(request: Request, ctx: Reading, declaration_id: int, attachment_id: int) -> Response:
        subject, _ = _operator(ctx)
        ep = request.app.state.endpoints

        def work() -> tuple[attachments.Attachment, bytes]:
            with pg.connect(ep.hub_db_url) as hub:
                found = attachments.read(hub, subject, declaration_id, attachment_id)
                hub.commit()  # the audit record of the read
                return found

        return attachment_response(*await run_in_threadpool(work))

    @r.post("/declarations/{declaration_id}/withdraw")
    async def withdraw(request: Request, ctx: Reading, declaration_id: int) -> Response:
        subject, _ = _operator(ctx)
        form = await request.form(max_files=0, max_fields=5)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        ep = request.app.state.endpoints

        def work() -> None:
            with pg.connect(ep.hub_db_url) as hub:
                declarations.withdraw(hub, subject, declaration_id)
                hub.commit()

        await run_in_threadpool(work)
        return RedirectResponse(f"/portal/unit/declarations/{declaration_id}", status_code=303)

    return r
