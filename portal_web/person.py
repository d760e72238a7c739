"""个人网上服务 — the insured person's own pages: information, contributions, accounts, benefit,
certificates (参保证明, 个人权益记录单) and the pension estimator (养老金测算).

Each page calls the same service functions as REST and GraphQL (``hub.persons``, ``hub.certificates``)
with the caller's subject, so the row rules, masking and audit are exactly the API's. Only a person's
own session reaches these pages: the person id comes from the session, never from the address, and any
other subject gets the same refusal. A visitor without a session is sent to the personal login and back.

No ``from __future__ import annotations`` here: FastAPI must see the route-local ``Reading`` alias at runtime.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from hub.access.context import ReadContext
from hub.access.subject import Subject, SubjectKind
from hub.certificates import gather
from hub.certificates import service as certificates
from hub.certificates.config import CertificateSettings
from hub.certificates.content import Content
from hub.certificates.fonts import Face, find_faces
from hub.certificates.pdf import SHANGHAI
from hub.db import WriteConnection
from hub.errors import Forbidden
from hub.persons import estimate_inputs
from hub.persons import service as persons
from hub.rules import retirement
from hub.rules.estimate import Assumptions, Estimate, EstimateInputError, estimate, latest_interest
from hub.rules.params import ParameterMissing
from portal_web.ui import csrf_of, page

NAV = (
    ("/portal/me", "个人基本信息"),
    ("/portal/me/insurance", "参保信息"),
    ("/portal/me/contributions", "缴费信息"),
    ("/portal/me/accounts", "个人账户"),
    ("/portal/me/benefit", "待遇信息"),
    ("/portal/me/certificate", "参保证明"),
    ("/portal/me/statement", "权益记录"),
    ("/portal/me/estimate", "养老金测算"),
    ("/portal/me/card", "社保卡信息与挂失"),
    ("/portal/me/contact", "联系方式变更"),
    ("/portal/me/requests", "办理进度"),
    ("/portal/me/certification", "待遇资格认证"),
    ("/portal/me/transfers", "转移接续"),
    ("/portal/me/objections", "权益记录核查"),
)
ACCOUNT_NAMES = {"BASIC": "基本养老保险个人账户", "ANNUITY": "职业年金个人账户"}
PARAMETERS_MISSING = "本地区测算所需的政策参数尚未齐全，暂时无法测算，请咨询12333。"
SEX_NAMES = {"1": "男", "2": "女", "9": "未说明"}

ReadDependency = Callable[..., AsyncIterator[ReadContext]]


class NotAPerson(Forbidden):
    title = "无权访问"
    default_detail = "此页面仅供参保人本人使用，请使用个人账号登录"


def _me(ctx: ReadContext) -> tuple[Subject, int]:
    subject = ctx.subject
    if subject.kind is not SubjectKind.PERSON or subject.person_id is None:
        raise NotAPerson()
    return subject, subject.person_id


def _today() -> date:
    return datetime.now(SHANGHAI).date()


async def _names(ctx: ReadContext, code_type: str) -> dict[str, str]:
    """Display names of one code type of the code table (AAA100), e.g. AAE140 险种."""
    return (await _code_tables(ctx, code_type))[code_type]


async def _code_tables(ctx: ReadContext, *code_types: str) -> dict[str, dict[str, str]]:
    cur = await ctx.conn.execute(
        "select code_type, value, name from code_table where code_type = any(%s)", (list(code_types),)
    )
    tables: dict[str, dict[str, str]] = {t: {} for t in code_types}
    for code_type, value, name in await cur.fetchall():
        tables[str(code_type)][str(value)] = str(name)
    return tables


async def _region_name(ctx: ReadContext, region: str | None) -> str | None:
    """The 统筹区's name from the synced ``ya_region`` row."""
    if not region:
        return None
    cur = await ctx.conn.execute(
        "select value ->> 'name' from region_parameter where kind = 'ya_region' and region_code = %s", (region,)
    )
    row = await cur.fetchone()
    return str(row[0]) if row and row[0] else None


async def _chrome(ctx: ReadContext, person_id: int, current: str) -> dict[str, Any]:
    """Navigation and the name in the header (the person's own name: not masked on the portal)."""
    overview = (await persons.get_overview(ctx, person_id)).data
    return {
        "nav": NAV,
        "current": current,
        "subject_label": f"参保人 · {overview.name}" if overview.name else "参保人",
        "as_of": ctx.as_of,
        "me": overview,
    }


@lru_cache(maxsize=4)
def _faces(paths: tuple[Path, ...]) -> tuple[Face, ...]:
    return find_faces(paths)


def pdf_response(data: bytes, filename: str) -> Response:
    """A PDF to save, never kept by a cache (it names the person in full)."""
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        },
    )


async def issue_pdf(request: Request, content: Content, filename: str) -> Response:
    """Sign and record one certificate (hub DB, committed once the PDF is ready) and hand it over."""
    settings: CertificateSettings = request.app.state.certificate_settings
    kek = request.app.state.settings.auth.key_encryption_key.get_secret_value()
    faces = await asyncio.to_thread(_faces, tuple(settings.font_paths))
    async with request.app.state.pools.hub.connection() as conn:
        issued = await certificates.issue(
            WriteConnection(conn),
            content,
            settings=settings,
            key_encryption_key=kek,
            faces=faces,
            now=datetime.now(UTC),
        )
        await conn.commit()
    return pdf_response(issued.pdf, f"{filename}-{issued.certificate_id}.pdf")


def _check_form(request: Request, form: dict[str, str]) -> None:
    csrf_of(request).check(request, form)


# 养老金测算: the form's fields, checked here so each error is shown next to its field --------------


@dataclass
class EstimateForm:
    age_years: str = ""
    age_months: str = "0"
    wage_growth: str = "3"
    interest: str = ""

    def parse(self, earliest: int, latest: int) -> tuple[Assumptions | None, dict[str, str]]:
        errors: dict[str, str] = {}
        years = _whole(self.age_years, "退休年龄（岁）", errors, "age_years")
        months = _whole(self.age_months or "0", "退休年龄（月）", errors, "age_months")
        age: int | None = None
        if years is not None and months is not None:
            if not 0 <= months <= 11:
                errors["age_months"] = "月数应在0到11之间"
            else:
                age = years * 12 + months
                if not earliest <= age <= latest:
                    errors["age_years"] = (
                        f"退休年龄应在{earliest // 12}岁{earliest % 12}个月至{latest // 12}岁{latest % 12}个月之间"
                    )
        growth = _percent(self.wage_growth, "工资年增长率", errors, "wage_growth", Decimal(-50), Decimal(50))
        interest = (
            _percent(self.interest, "记账利率", errors, "interest", Decimal(-20), Decimal(20))
            if self.interest.strip()
            else None
        )
        if errors or growth is None:
            return None, errors
        return Assumptions(retire_age_months=age, wage_growth=growth, interest_rate=interest), errors


def _whole(text: str, label: str, errors: dict[str, str], field: str) -> int | None:
    value = text.strip()
    if not value:
        errors[field] = f"请填写{label}"
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 3:
        errors[field] = f"{label}应为整数"
        return None
    return int(value)


def _percent(text: str, label: str, errors: dict[str, str], field: str, low: Decimal, high: Decimal) -> Decimal | None:
    value = text.strip().rstrip("%％").strip()
    if not value:
        errors[field] = f"请填写{label}"
        return None
    try:
        number = Decimal(value) if value.isascii() and len(value) <= 10 else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        errors[field] = f"{label}应为数字，例如 3 或 2.5"
        return None
    if not low < number <= high:
        errors[field] = f"{label}应在 {low}% 到 {high}% 之间"
        return None
    return number / 100


def _age_text(months: int) -> str:
    return f"{months // 12}岁" + (f"{months % 12}个月" if months % 12 else "")


def _percent_text(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def router(read_dependency: ReadDependency) -> APIRouter:
    """The person's pages; ``read_dependency`` yields the caller's ReadContext (rate limit and audit on)."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix="/portal/me", include_in_schema=False)

    @r.get("")
    async def home(request: Request, ctx: Reading) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me")
        card = (await persons.get_card(ctx, person_id)).data
        codes = await _code_tables(ctx, "AAC004", "AAC005", "CARD_STATUS")
        return page(
            request,
            "portal/person_home.html",
            subject=subject,
            title="个人基本信息",
            card=card,
            sex_names=codes["AAC004"] or SEX_NAMES,
            ethnicity_names=codes["AAC005"],
            card_status_names=codes["CARD_STATUS"],
            region_name=await _region_name(ctx, chrome["me"].region_code),
            **chrome,
        )

    @r.get("/insurance")
    async def insurance(request: Request, ctx: Reading) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/insurance")
        rows = (await persons.list_insurance(ctx, person_id)).data
        return page(
            request,
            "portal/person_insurance.html",
            subject=subject,
            title="参保信息",
            rows=rows,
            insurance_names=await _names(ctx, "AAE140"),
            status_names=await _names(ctx, "AAC008"),
            pay_status_names=await _names(ctx, "AAC031"),
            **chrome,
        )

    @r.get("/contributions")
    async def contributions(
        request: Request,
        ctx: Reading,
        year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
        insurance: Annotated[str | None, Query(pattern="^[0-9]{3}$")] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/contributions")
        rows = await persons.list_contributions(ctx, person_id, year=year, insurance=insurance, cursor=cursor, limit=60)
        every = (await persons.get_rights_statement(ctx, person_id)).data
        years = sorted({ln.year for ln in every}, reverse=True)
        lines = [ln for ln in every if year is None or ln.year == year]
        arrears = sum((ln.arrears for ln in lines if insurance is None or ln.insurance == insurance), Decimal(0))
        names = await _names(ctx, "AAE140")
        return page(
            request,
            "portal/person_contribution_list.html",
            subject=subject,
            title="缴费信息",
            rows=rows.data,
            next_cursor=rows.next_cursor,
            year=year,
            years=years,
            insurance=insurance,
            insurance_names={k: v for k, v in names.items() if k in {ln.insurance for ln in every}},
            arrears=arrears,
            unpaid=sum(1 for c in rows.data if not c.paid),
            **chrome,
        )

    @r.get("/accounts")
    async def accounts(request: Request, ctx: Reading) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/accounts")
        rows = (await persons.list_accounts(ctx, person_id)).data
        grouped = {
            key: sorted((a for a in rows if a.account == key), key=lambda a: a.year, reverse=True)
            for key in ACCOUNT_NAMES
        }
        return page(
            request,
            "portal/person_accounts.html",
            subject=subject,
            title="个人账户",
            grouped=grouped,
            account_names=ACCOUNT_NAMES,
            **chrome,
        )

    @r.get("/benefit")
    async def benefit(
        request: Request, ctx: Reading, year: Annotated[int | None, Query(ge=1990, le=2100)] = None
    ) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/benefit")
        decided = (await persons.get_benefit(ctx, person_id)).data
        payments = (await persons.list_payments(ctx, person_id)).data if decided else []
        years = sorted({p.period // 100 for p in payments}, reverse=True)
        shown_year = year if year is not None else (years[0] if years else None)
        return page(
            request,
            "portal/person_benefit.html",
            subject=subject,
            title="待遇信息",
            benefit=decided,
            payments=[p for p in payments if shown_year is None or p.period // 100 == shown_year],
            years=years,
            year=shown_year,
            **chrome,
        )

    @r.get("/certificate")
    async def certificate(request: Request, ctx: Reading) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/certificate")
        settings: CertificateSettings = request.app.state.certificate_settings
        return page(
            request,
            "portal/person_certificate.html",
            subject=subject,
            title="个人参保证明",
            valid_days=settings.valid_days,
            **chrome,
        )

    @r.post("/certificate.pdf")
    async def certificate_pdf(request: Request, ctx: Reading) -> Response:
        _, person_id = _me(ctx)
        form = await request.form()
        _check_form(request, {k: str(v) for k, v in form.items()})
        content = await gather.person_certificate(ctx, person_id, as_of=_today())
        return await issue_pdf(request, content, "参保证明")

    @r.get("/statement")
    async def statement(
        request: Request, ctx: Reading, year: Annotated[int | None, Query(ge=1990, le=2100)] = None
    ) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/statement")
        every = (await persons.get_rights_statement(ctx, person_id)).data
        years = sorted({ln.year for ln in every}, reverse=True)
        shown = year if year is not None else (years[0] if years else None)
        lines = [ln for ln in every if ln.year == shown]
        balances = {
            a.account: a
            for a in (await persons.list_accounts(ctx, person_id)).data
            if shown is not None and a.year == shown
        }
        insured = (await persons.list_insurance(ctx, person_id)).data
        return page(
            request,
            "portal/person_statement.html",
            subject=subject,
            title="个人权益记录",
            years=years,
            year=shown,
            lines=lines,
            balances=balances,
            account_names=ACCOUNT_NAMES,
            insured=insured,
            insurance_names=await _names(ctx, "AAE140"),
            **chrome,
        )

    @r.post("/statement.pdf")
    async def statement_pdf(request: Request, ctx: Reading, year: Annotated[int, Form(ge=1990, le=2100)]) -> Response:
        _, person_id = _me(ctx)
        form = await request.form()
        _check_form(request, {k: str(v) for k, v in form.items()})
        content = await gather.rights_statement(ctx, person_id, year, as_of=_today())
        return await issue_pdf(request, content, f"权益记录单-{year}")

    @r.get("/estimate")
    async def estimate_page(
        request: Request,
        ctx: Reading,
        age_years: Annotated[str | None, Query(max_length=20)] = None,
        age_months: Annotated[str, Query(max_length=20)] = "0",
        wage_growth: Annotated[str, Query(max_length=20)] = "3",
        interest: Annotated[str, Query(max_length=20)] = "",
    ) -> Response:
        subject, person_id = _me(ctx)
        chrome = await _chrome(ctx, person_id, "/portal/me/estimate")
        context: dict[str, Any] = {"result": None, "errors": {}, "problem": None, "retired": False}
        inputs: estimate_inputs.EstimateInputs | None = None
        if chrome["me"].retired:
            context["retired"] = True  # the benefit is decided: the benefit page shows it
        else:
            try:
                inputs = await estimate_inputs.person_history(ctx, person_id, today=_today())
            except estimate_inputs.NoHistory as exc:
                context["problem"] = exc.detail
            except ParameterMissing:
                context["problem"] = PARAMETERS_MISSING
        form = EstimateForm(age_years or "", age_months, wage_growth, interest)
        status = 200
        if inputs is not None:
            h = inputs.history
            statutory = retirement.age_months(h.birth, h.sex, female_original_age=h.female_original_age)
            earliest = retirement.cohort_of(h.sex, female_original_age=h.female_original_age).original_years * 12
            latest = statutory + 36  # 弹性退休: up to three years after the statutory age (hub.rules.estimate)
            if age_years is None:
                form.age_years, form.age_months = str(statutory // 12), str(statutory % 12)
            try:
                published = latest_interest(inputs.params)
            except ParameterMissing:
                published = None
            context.update(
                statutory=_age_text(statutory),
                earliest=_age_text(earliest),
                latest=_age_text(latest),
                published_interest=_percent_text(published) if published is not None else None,
                history=h,
            )
            if age_years is not None:
                assumptions, errors = form.parse(earliest, latest)
                context["errors"] = errors
                if assumptions is not None:
                    try:
                        context["result"] = _explain(estimate(inputs.params, h, assumptions), inputs)
                    except EstimateInputError as exc:
                        context["errors"] = {"age_years": str(exc)}
                    except ParameterMissing:
                        context["problem"] = PARAMETERS_MISSING
                if context["errors"]:
                    status = 422
        return page(
            request,
            "portal/person_estimate.html",
            subject=subject,
            status=status,
            title="养老金测算",
            form=form,
            **context,
            **chrome,
        )

    return r


def _explain(e: Estimate, inputs: estimate_inputs.EstimateInputs) -> dict[str, Any]:
    """The estimate with its formulas in plain Chinese (the numbers the person sees in each step)."""
    b = e.benefit
    coef = Decimal(inputs.params.param("TRANSITION_COEF", e.retire_date))
    min_years = inputs.params.param("MIN_YEARS", e.retire_date)
    years = (Decimal(e.paid_months + e.deemed_months) / 12).quantize(Decimal("0.01"))
    deemed_years = (Decimal(e.deemed_months) / 12).quantize(Decimal("0.01"))
    return {
        "estimate": e,
        "retire_at": f"{e.retire_date.year}年{e.retire_date.month}月",
        "age": _age_text(e.age_months),
        "statutory": _age_text(e.statutory_age_months),
        "years": years,
        "deemed_years": deemed_years,
        "interest": _percent_text(e.interest_rate),
        "steps": (
            (
                "基础养老金",
                b.basic,
                f"（计发基数 {e.c:,.2f} 元 + 计发基数 × 本人平均缴费指数 {e.average_index}）÷ 2"
                f" × 缴费年限 {years} 年 × 1%",
            ),
            (
                "个人账户养老金",
                b.account,
                f"退休时个人账户储存额 {e.account_balance:,.2f} 元 ÷ 计发月数 {e.payout_months}",
            ),
            (
                "过渡性养老金",
                b.transitional,
                f"计发基数 {e.c:,.2f} 元 × 视同缴费指数 {inputs.history.deemed_index} × 视同缴费年限 {deemed_years} 年"
                f" × 过渡系数 {_percent_text(coef)}"
                if e.deemed_months
                else "没有视同缴费年限，不计发过渡性养老金",
            ),
            (
                "职业年金（税前）",
                b.annuity_before_tax,
                f"退休时职业年金账户储存额 {e.annuity_balance:,.2f} 元 ÷ 计发月数 {e.payout_months}",
            ),
            ("职业年金个人所得税", b.annuity_tax, "按月度税率表计算"),
            ("职业年金（税后）", b.annuity_after_tax, "税前金额减去个人所得税"),
        ),
        "total": b.total,
        "entitled": b.entitled,
        "min_years": min_years,
    }
