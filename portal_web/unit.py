"""单位网上申报 — the unit operator's pages over the query store (the read side of the 17 unit functions).

Each page calls the same service functions as REST and GraphQL (``hub.units``, ``hub.persons``) with the
caller's subject, so the row rules, masking and audit are exactly the API's. A visitor without a session
is sent to the unit login and back (the portal's error renderer turns 401 into that redirect).
"""

import io
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from hub.access.context import ReadContext
from hub.access.subject import Subject, SubjectKind
from hub.errors import Forbidden, ValidationFailed
from hub.persons import service as persons
from hub.rules.params import BASIC_PENSION_AAE140
from hub.units import adjustments as unit_adjustments
from hub.units import service as units
from portal_web.ui import LARGE, TEXT_COOKIE, csrf_of, page

NAV = (
    ("/portal/unit", "单位基本信息"),
    ("/portal/unit/roster", "在职人员名册"),
    ("/portal/unit/contributions", "单位缴费与欠费"),
    ("/portal/unit/adjustments", "调基补差明细"),
    ("/portal/unit/wages", "年度缴费工资申报"),
    ("/portal/unit/declarations", "申报业务办件进度"),
    ("/portal/unit/staff/register", "人员基本信息登记"),
    ("/portal/unit/staff/enrol", "人员新参保"),
    ("/portal/unit/staff/stop", "人员停保"),
    ("/portal/unit/staff/resume", "人员续保"),
    ("/portal/unit/staff/change", "人员信息变更"),
    ("/portal/unit/staff/retired", "离退休人员"),
    ("/portal/unit/admin/change", "单位信息变更申报"),
    ("/portal/unit/admin/contact", "银行账户与联系人"),
    ("/portal/unit/admin/operators", "经办人子账号"),
    ("/portal/unit/admin/print", "证明与明细打印"),
)

ReadDependency = Callable[..., AsyncIterator[ReadContext]]


class NotAUnitOperator(Forbidden):
    title = "无权访问"
    default_detail = "此页面仅供单位经办人使用"


def _operator(ctx: ReadContext) -> tuple[Subject, int]:
    subject = ctx.subject
    if subject.kind is not SubjectKind.UNIT_OPERATOR or subject.unit_id is None:
        raise NotAUnitOperator()
    return subject, subject.unit_id


async def insurance_names(ctx: ReadContext) -> dict[str, str]:
    """险种 labels of this scheme from the store's code table: 机关事业单位养老保险 and 职业年金 (code configurable)."""
    cur = await ctx.conn.execute(
        "select value, name from code_table where code_type = 'AAE140' and (value = %s or name like %s) order by value",
        (BASIC_PENSION_AAE140, "%职业年金%"),
    )
    names = {str(v): str(n) for v, n in await cur.fetchall()}
    return dict(sorted(names.items(), key=lambda kv: kv[0] != BASIC_PENSION_AAE140))


def _chrome(ctx: ReadContext, current: str, unit_name: str | None = None) -> dict[str, Any]:
    return {
        "nav": NAV,
        "current": current,
        "subject_label": f"单位经办人 · {unit_name}" if unit_name else "单位经办人",
        "as_of": ctx.as_of,
    }


def router(read_dependency: ReadDependency) -> APIRouter:
    """The unit pages; ``read_dependency`` yields the caller's ReadContext (rate limit and audit on)."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix="/portal/unit", include_in_schema=False)

    @r.get("")
    async def home(request: Request, ctx: Reading) -> Response:
        subject, unit_id = _operator(ctx)
        overview = (await units.get_overview(ctx, unit_id)).data
        return page(
            request,
            "portal/unit_home.html",
            subject=subject,
            title="单位基本信息",
            unit=overview,
            **_chrome(ctx, "/portal/unit", overview.name),
        )

    @r.get("/roster")
    async def roster(
        request: Request, ctx: Reading, cursor: Annotated[str | None, Query(max_length=200)] = None
    ) -> Response:
        subject, unit_id = _operator(ctx)
        entries = await units.list_roster(ctx, unit_id, cursor=cursor, limit=50)
        return page(
            request,
            "portal/unit_roster.html",
            subject=subject,
            title="在职人员名册",
            entries=entries.data,
            next_cursor=entries.next_cursor,
            first_page=cursor is None,
            **_chrome(ctx, "/portal/unit/roster"),
        )

    @r.get("/roster.xlsx")
    async def roster_export(ctx: Reading) -> Response:
        """The whole roster as a workbook (names and ID numbers masked as on screen)."""
        from openpyxl import Workbook

        _, unit_id = _operator(ctx)
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("在职人员名册")
        ws.append(["个人编号", "姓名", "公民身份号码", "参保起始日期", "终止日期"])
        cursor: str | None = None
        while True:
            chunk = await units.list_roster(ctx, unit_id, cursor=cursor, limit=200)
            for e in chunk.data:
                ws.append([e.person_id, e.name, e.id_number, e.start_date, e.end_date])
            if chunk.next_cursor is None:
                break
            cursor = chunk.next_cursor
        out = io.BytesIO()
        wb.save(out)
        return StreamingResponse(
            iter([out.getvalue()]),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": "attachment; filename*=UTF-8''roster.xlsx"},
        )

    @r.get("/contributions")
    async def contributions(
        request: Request,
        ctx: Reading,
        year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
        insurance: Annotated[str | None, Query(pattern="^[0-9]{3}$")] = None,
    ) -> Response:
        subject, unit_id = _operator(ctx)
        totals = (await units.list_month_totals(ctx, unit_id, year=year, insurance=insurance)).data
        arrears = sum((t.arrears for t in totals), start=totals[0].arrears * 0) if totals else None
        return page(
            request,
            "portal/unit_contributions.html",
            subject=subject,
            title="单位缴费与欠费",
            totals=totals,
            arrears=arrears,
            year=year,
            insurance=insurance,
            insurance_names=await insurance_names(ctx),
            **_chrome(ctx, "/portal/unit/contributions"),
        )

    @r.get("/adjustments")
    async def adjustments(
        request: Request, ctx: Reading, year: Annotated[int | None, Query(ge=1990, le=2100)] = None
    ) -> Response:
        """调基补差明细: each difference with its old and new base, rates, amount and the parameters behind it."""
        subject, unit_id = _operator(ctx)
        report = await unit_adjustments.list_adjustments(ctx, unit_id, year=year)
        return page(
            request,
            "portal/unit_adjustments.html",
            subject=subject,
            title="调基补差明细",
            report=report,
            year=year,
            insurance_names=await insurance_names(ctx),
            **_chrome(ctx, "/portal/unit/adjustments"),
        )

    @r.get("/persons/{person_id}/contributions")
    async def person_contributions(
        request: Request,
        ctx: Reading,
        person_id: int,
        year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        subject, _ = _operator(ctx)
        rows = await persons.list_contributions(ctx, person_id, year=year, cursor=cursor, limit=60)
        return page(
            request,
            "portal/person_contributions.html",
            subject=subject,
            title="人员缴费明细",
            person_id=person_id,
            rows=rows.data,
            next_cursor=rows.next_cursor,
            year=year,
            insurance_names=await insurance_names(ctx),
            **_chrome(ctx, "/portal/unit/roster"),
        )

    return r


ui_router = APIRouter(prefix="/portal/ui", include_in_schema=False)


@ui_router.post("/text-size")
async def text_size(request: Request, size: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
    """Switch the large-text, high-contrast mode (适老化); works without JavaScript."""
    form = await request.form()
    csrf_of(request).check(request, {k: str(v) for k, v in form.items()})
    if size not in ("large", "normal"):
        raise ValidationFailed("字体大小只能选择大字体或标准字体")
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if size == "large":
        response.set_cookie(TEXT_COOKIE, LARGE, max_age=365 * 86400, httponly=True, samesite="lax")
    else:
        response.delete_cookie(TEXT_COOKIE)
    return response
