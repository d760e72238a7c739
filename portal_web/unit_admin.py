"""The unit's own administration: 单位信息变更申报, 单位银行账户与联系人维护, 单位经办人子账号管理 and
printing (单位参保证明, 缴费明细).

The two change forms show the current values as the portal shows them (contact phone and bank account
masked) and submit a declaration (``unit_change`` / ``unit_contact``) that the agency reviews; the form
carries its idempotency key, so a double click or a reload never creates two. Operator management is the
unit administrator's (``hub.identity.unit_activation`` checks the flag in the hub DB on every call), and so
is re-issuing an operator's temporary password (``hub.identity.admin.reset_unit_operator_password``).
"""

import asyncio
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.context import ReadContext
from hub.certificates import gather
from hub.certificates import service as certificates
from hub.certificates.config import CertificateSettings
from hub.certificates.fonts import Face, find_faces, prepare
from hub.certificates.pdf import SHANGHAI
from hub.db import WriteConnection
from hub.declarations import service as declarations
from hub.errors import HubError, ValidationFailed
from hub.identity import accounts, admin, password_change, refusals, sessions
from hub.identity import unit_activation as operators
from hub.identity.errors import Conflict as AccountConflict
from hub.identity.errors import Forbidden as IdentityForbidden
from hub.identity.errors import IdentityError, WeakPassword
from hub.identity.errors import NotFound as AccountNotFound
from hub.ids import mask_phone
from hub.units import service as units
from hub.units.schemas import UnitMonthTotalRead
from portal_web.ui import csrf_of, page, yuan
from portal_web.unit import ReadDependency, _chrome, _operator, insurance_names

PREFIX = "/portal/unit/admin"


class NotUnitAdmin(HubError):
    type = "https://hub.example.gov.cn/problems/forbidden"
    title = "无权访问"
    status = 403
    default_detail = "此功能仅供单位管理员使用，请联系本单位管理员"


@dataclass(frozen=True)
class ChangeForm:
    """One of the two change forms: its declaration type, fields (name, label, hint) and page."""

    kind: str
    title: str
    path: str
    fields: tuple[tuple[str, str, str], ...]


CHANGE = ChangeForm(
    "unit_change",
    "单位信息变更申报",
    f"{PREFIX}/change",
    (("name", "单位名称", "不超过100个字"), ("address", "单位地址", "不超过200个字")),
)
CONTACT = ChangeForm(
    "unit_contact",
    "单位银行账户与联系人维护",
    f"{PREFIX}/contact",
    (
        ("contact_name", "联系人", "不超过50个字"),
        ("contact_phone", "联系人手机号码", "11位手机号码；单位激活码和办结通知发送到此号码"),
        ("bank_name", "开户银行", "开户银行和银行账号需同时填写"),
        ("bank_account", "银行账号", "8至30位数字"),
    ),
)


def _rt(request: Request) -> Any:
    return request.app.state.identity


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, fields)
    return fields


def _new_key() -> str:
    return "ua-" + secrets.token_urlsafe(18)


@lru_cache(maxsize=4)
def _faces(paths: tuple[Path, ...]) -> tuple[Face, ...]:
    return find_faces(paths)


def _today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        },
    )


# 缴费明细 PDF: a plain table, fonts embedded (subset) as on the certificates -------------------------

_HEADERS = ("费款所属期", "险种", "人数", "缴费基数合计", "单位缴费", "个人缴费", "应缴", "实缴", "欠费")
_WIDTHS = (62.0, 96.0, 34.0, 72.0, 58.0, 58.0, 58.0, 58.0, 52.0)


def payments_pdf(
    unit_name: str,
    unit_id: int,
    year: int,
    rows: list[tuple[str, ...]],
    totals: tuple[str, ...],
    faces: tuple[Face, ...],
) -> bytes:
    """单位缴费明细 of one year as an A4 PDF (not a certificate: no verification code)."""
    title = f"{unit_name} {year}年度缴费明细"
    printed = f"单位编号：{unit_id}　打印日期：{_today().isoformat()}　金额单位：元"
    text = "".join([title, printed, "无记录", *("".join(r) for r in (_HEADERS, *rows, totals))])
    fonts = prepare(text, faces)
    try:
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=A4, pageCompression=1)
        canvas.setTitle(title)
        width, height = A4
        left = (width - sum(_WIDTHS)) / 2

        def draw(x: float, y: float, value: str, size: float, align: str = "left") -> None:
            w = fonts.width(value, size)
            if align == "center":
                x -= w / 2
            elif align == "right":
                x -= w
            for name, part in fonts.runs(value):
                canvas.setFont(name, size)
                canvas.drawString(x, y, part)
                x += canvas.stringWidth(part, name, size)

        def heading(y: float) -> float:
            draw(width / 2, y, title, 15, "center")
            draw(left, y - 24, printed, 9)
            return y - 44

        row_h = 18.0

        def draw_row(y: float, row: tuple[str, ...], header: bool) -> float:
            x = left
            canvas.setLineWidth(0.5)
            canvas.rect(left, y - row_h, sum(_WIDTHS), row_h, stroke=1, fill=0)
            for i, cell in enumerate(row):
                if i:
                    canvas.line(x, y - row_h, x, y)
                size = 8.5
                while size > 5 and fonts.width(cell, size) > _WIDTHS[i] - 4:
                    size -= 0.5
                if i >= 2 and not header:
                    draw(x + _WIDTHS[i] - 3, y - row_h + 6, cell, size, "right")
                else:
                    draw(x + _WIDTHS[i] / 2, y - row_h + 6, cell, size, "center")
                x += _WIDTHS[i]
            return y - row_h

        y = draw_row(heading(height - 56), _HEADERS, True)
        body = [*rows, totals] if rows else [("无记录",) + ("",) * (len(_HEADERS) - 1)]
        for row in body:
            if y - row_h < 48:  # a new page repeats the title and the column heads
                canvas.showPage()
                y = draw_row(heading(height - 56), _HEADERS, True)
            y = draw_row(y, row, False)
        canvas.showPage()
        canvas.save()
        return out.getvalue()
    finally:
        fonts.release()


def _payment_rows(
    totals: list[UnitMonthTotalRead], names: dict[str, str]
) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    ordered = sorted(totals, key=lambda t: (t.period, t.insurance))
    rows: list[tuple[str, ...]] = [
        (
            f"{t.period // 100}年{t.period % 100:02d}月",
            names.get(t.insurance, t.insurance),
            str(t.rows),
            yuan(t.base_total),
            yuan(t.unit_amount),
            yuan(t.person_amount),
            yuan(t.due),
            yuan(t.paid),
            yuan(t.arrears),
        )
        for t in ordered
    ]

    def total(values: list[Decimal]) -> str:
        return yuan(sum(values, start=Decimal(0))) if ordered else "—"

    footer: tuple[str, ...] = (
        "合计",
        "",
        "",
        "",
        total([t.unit_amount for t in ordered]),
        total([t.person_amount for t in ordered]),
        total([t.due for t in ordered]),
        total([t.paid for t in ordered]),
        total([t.arrears for t in ordered]),
    )
    return rows, footer


def router(read_dependency: ReadDependency) -> APIRouter:
    """The unit administration pages; ``read_dependency`` yields the caller's ReadContext."""
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    # 单位信息变更申报 / 单位银行账户与联系人维护 ------------------------------------------------------

    async def show_form(
        request: Request,
        ctx: ReadContext,
        form: ChangeForm,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        key: str | None = None,
        status: int = 200,
    ) -> Response:
        subject, unit_id = _operator(ctx)
        unit = (await units.get_overview(ctx, unit_id)).data
        return page(
            request,
            "portal/unit_admin_change.html",
            subject=subject,
            status=status,
            title=form.title,
            form=form,
            unit=unit,
            values=values or {},
            errors=errors or {},
            key=key or _new_key(),
            **_chrome(ctx, form.path, unit.name),
        )

    async def submit_form(request: Request, ctx: ReadContext, form: ChangeForm) -> Response:
        subject, _ = _operator(ctx)
        fields = await _form(request)
        values = {name: " ".join(fields.get(name, "").split()) for name, _, _ in form.fields}
        if "contact_phone" in values:
            values["contact_phone"] = values["contact_phone"].replace(" ", "")
        if "bank_account" in values:
            values["bank_account"] = values["bank_account"].replace(" ", "")
        key = fields.get("key", "")[:100]
        payload = {k: v for k, v in values.items() if v}
        if not key:
            raise ValidationFailed("页面已过期，请刷新后重新填写")
        ep = request.app.state.endpoints

        def work() -> int:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url) as query:
                decl = declarations.create(hub, query, subject, form.kind, payload, key, submit=True)
                hub.commit()
                return decl.id

        try:
            declaration_id = await run_in_threadpool(work)
        except ValidationFailed as exc:
            errors: dict[str, str] = {}
            for err in exc.extensions.get("errors", []) or []:
                name = str(err.get("field", "")).split(".")[0]
                target = name if name in values else "form"
                errors[target] = f"{errors[target]}；{err['message']}" if target in errors else str(err["message"])
            if not errors:
                errors["form"] = exc.detail
            return await show_form(request, ctx, form, values=values, errors=errors, key=key, status=422)
        return RedirectResponse(f"/portal/unit/declarations/{declaration_id}", status_code=303)

    @r.get("/change")
    async def change(request: Request, ctx: Reading) -> Response:
        return await show_form(request, ctx, CHANGE)

    @r.post("/change")
    async def change_submit(request: Request, ctx: Reading) -> Response:
        return await submit_form(request, ctx, CHANGE)

    @r.get("/contact")
    async def contact(request: Request, ctx: Reading) -> Response:
        return await show_form(request, ctx, CONTACT)

    @r.post("/contact")
    async def contact_submit(request: Request, ctx: Reading) -> Response:
        return await submit_form(request, ctx, CONTACT)

    # 单位经办人子账号管理 ------------------------------------------------------------------------------

    async def show_operators(
        request: Request,
        ctx: ReadContext,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        subject, _ = _operator(ctx)
        ep = request.app.state.endpoints

        def work() -> list[operators.Operator]:
            with pg.connect(ep.hub_db_url) as hub:
                return operators.list_operators(hub, subject)

        try:
            listing = await run_in_threadpool(work)
        except operators.NotUnitAdministrator:
            raise NotUnitAdmin() from None
        return page(
            request,
            "portal/unit_admin_operators.html",
            subject=subject,
            status=status,
            title="单位经办人子账号管理",
            operators=listing,
            me=subject.account_id,
            values=values or {},
            errors=errors or {},
            notice=notice,
            **_chrome(ctx, f"{PREFIX}/operators"),
        )

    @r.get("/operators")
    async def operator_list(request: Request, ctx: Reading, done: Annotated[str | None, Query()] = None) -> Response:
        days = _rt(request).cfg.settings.temporary_password_days
        added = f"经办人账号已创建。请将初始密码告知该经办人：首次登录时须修改密码，初始密码{days}天内有效。"
        notices = {"added": added, "disabled": "账号已停用。", "enabled": "账号已启用。"}
        return await show_operators(request, ctx, notice=notices.get(done or ""))

    @r.post("/operators")
    async def operator_add(request: Request, ctx: Reading) -> Response:
        subject, _ = _operator(ctx)
        fields = await _form(request)
        values = {k: fields.get(k, "").strip() for k in ("login", "display_name", "phone")}
        password, password2 = fields.get("password", ""), fields.get("password2", "")
        if password != password2:
            return await show_operators(
                request, ctx, values=values, errors={"password2": "两次输入的密码不一致"}, status=422
            )
        ep, rt = request.app.state.endpoints, _rt(request)

        def work() -> str:
            with pg.connect(ep.hub_db_url) as hub:
                account_id = operators.add_operator(
                    hub, rt.cfg, subject, login=values["login"], display_name=values["display_name"],
                    phone=values["phone"], password=password, now=rt.clock(),
                )  # fmt: skip
                hub.commit()
                return account_id

        try:
            await run_in_threadpool(work)
        except operators.NotUnitAdministrator:
            raise NotUnitAdmin() from None
        except IdentityError as exc:
            field = {
                operators.InvalidLogin: "login",
                operators.InvalidName: "display_name",
                operators.InvalidPhone: "phone",
                WeakPassword: "password",
                AccountConflict: "login",
            }.get(type(exc), "form")
            detail = "该登录名已被本单位其他经办人使用" if isinstance(exc, AccountConflict) else exc.detail
            return await show_operators(request, ctx, values=values, errors={field: detail}, status=422)
        return RedirectResponse(f"{PREFIX}/operators?done=added", status_code=303)

    async def operator_action(request: Request, ctx: ReadContext, account_id: str, action: str) -> Response:
        subject, _ = _operator(ctx)
        await _form(request)
        ep, rt = request.app.state.endpoints, _rt(request)

        def work() -> None:
            with pg.connect(ep.hub_db_url) as hub:
                if action == "transfer":
                    operators.transfer_admin(hub, subject, account_id, now=rt.clock())
                else:
                    operators.set_operator_status(hub, subject, account_id, active=action == "enable", now=rt.clock())
                hub.commit()
            if action == "disable":  # a disabled operator's open sessions end now, not when they expire
                sessions.revoke_account(rt.redis, rt.sessions, account_id)

        try:
            await run_in_threadpool(work)
        except operators.NotUnitAdministrator:
            raise NotUnitAdmin() from None
        except IdentityForbidden as exc:  # their own account, or a disabled one: shown inline
            return await show_operators(request, ctx, errors={"form": exc.detail}, status=403)
        except AccountNotFound:
            return await show_operators(request, ctx, errors={"form": "该经办人账号不存在"}, status=404)
        if action == "transfer":
            return page(
                request,
                "portal/unit_admin_transferred.html",
                subject=subject,
                title="管理员已移交",
                **_chrome(ctx, f"{PREFIX}/operators"),
            )
        return RedirectResponse(f"{PREFIX}/operators?done={action}d", status_code=303)

    @r.post("/operators/{account_id}/disable")
    async def operator_disable(request: Request, ctx: Reading, account_id: str) -> Response:
        return await operator_action(request, ctx, account_id[:40], "disable")

    @r.post("/operators/{account_id}/enable")
    async def operator_enable(request: Request, ctx: Reading, account_id: str) -> Response:
        return await operator_action(request, ctx, account_id[:40], "enable")

    @r.post("/operators/{account_id}/transfer")
    async def operator_transfer(request: Request, ctx: Reading, account_id: str) -> Response:
        return await operator_action(request, ctx, account_id[:40], "transfer")

    @r.post("/operators/{account_id}/password")
    async def operator_password_reset(request: Request, ctx: Reading, account_id: str) -> Response:
        """重置密码 of another operator of the unit: the first post asks for confirmation; the confirmed one
        (``confirm=yes``) issues a new temporary password, shown once, and ends the operator's sessions and
        OAuth grants at once. A refusal by rule is recorded in the audit chain (``hub.identity.refusals``)."""
        subject, _ = _operator(ctx)
        fields = await _form(request)
        ep, rt = request.app.state.endpoints, _rt(request)
        aid = account_id[:40]
        confirmed = fields.get("confirm") == "yes"
        ip = request.client.host if request.client else None

        def work() -> accounts.Account | admin.PasswordReset:
            with pg.connect(ep.hub_db_url) as hub:
                try:
                    if not confirmed:
                        return admin.unit_reset_target(hub, subject, aid)
                    done = admin.reset_unit_operator_password(hub, rt.cfg, subject, aid, now=rt.clock())
                except IdentityForbidden as exc:
                    hub.rollback()
                    refusals.record(
                        hub, subject, admin.PASSWORD_RESET, target_type="account", target_id=aid,
                        reason=refusals.reason_of(exc), now=rt.clock(), ip=ip,
                    )  # fmt: skip
                    hub.commit()
                    raise
                hub.commit()
            password_change.end_sessions_after_reset(
                rt.redis, rt.sessions, done.changed, now=rt.clock(),
                access_token_ttl_seconds=rt.cfg.settings.access_token_ttl_seconds,
            )  # fmt: skip
            return done

        try:
            outcome = await run_in_threadpool(work)
        except IdentityForbidden as exc:
            if refusals.reason_of(exc) == refusals.ROLE_REQUIRED:
                raise NotUnitAdmin() from None
            return await show_operators(request, ctx, errors={"form": exc.detail}, status=403)
        except AccountNotFound:
            return await show_operators(request, ctx, errors={"form": "该经办人账号不存在"}, status=404)
        valid_days = rt.cfg.settings.temporary_password_days
        chrome = _chrome(ctx, f"{PREFIX}/operators")
        if isinstance(outcome, admin.PasswordReset):
            expires = outcome.expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            return page(
                request, "portal/unit_admin_password.html", subject=subject, title="经办人密码已重置",
                account=None, reset=outcome, expires=expires, valid_days=valid_days, **chrome,
            )  # fmt: skip
        return page(
            request, "portal/unit_admin_password.html", subject=subject, title="重置经办人密码", account=outcome,
            phone=mask_phone(outcome.phone) if outcome.phone else None, reset=None, valid_days=valid_days, **chrome,
        )  # fmt: skip

    # 单位参保证明 and 缴费明细 -------------------------------------------------------------------------

    @r.get("/print")
    async def print_page(request: Request, ctx: Reading) -> Response:
        subject, _ = _operator(ctx)
        settings: CertificateSettings = request.app.state.certificate_settings
        this_year = _today().year
        return page(
            request,
            "portal/unit_admin_print.html",
            subject=subject,
            title="单位参保证明与缴费明细打印",
            valid_days=settings.valid_days,
            years=list(range(this_year, this_year - 6, -1)),
            year=this_year - 1,
            **_chrome(ctx, f"{PREFIX}/print"),
        )

    @r.post("/certificate.pdf")
    async def certificate_pdf(request: Request, ctx: Reading) -> Response:
        """单位参保证明: signed, recorded, verifiable at /verify with the code printed on it."""
        _, unit_id = _operator(ctx)
        await _form(request)
        content = await gather.unit_certificate(ctx, unit_id, as_of=_today())
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
        return _pdf(issued.pdf, f"单位参保证明-{issued.certificate_id}.pdf")

    @r.post("/payments.pdf")
    async def payments(request: Request, ctx: Reading) -> Response:
        """单位缴费明细 of one year (a plain table)."""
        _, unit_id = _operator(ctx)
        fields = await _form(request)
        try:
            year = int(fields.get("year", ""))
        except ValueError:
            year = 0
        if not 1990 <= year <= 2100:
            raise ValidationFailed("请选择正确的年度")
        unit = (await units.get_overview(ctx, unit_id)).data
        totals = (await units.list_month_totals(ctx, unit_id, year=year)).data
        rows, total = _payment_rows(totals, await insurance_names(ctx))
        settings: CertificateSettings = request.app.state.certificate_settings
        faces = await asyncio.to_thread(_faces, tuple(settings.font_paths))
        data = await asyncio.to_thread(payments_pdf, unit.name or "", unit_id, year, rows, total, faces)
        await ctx.audit.record(ctx.caller, "unit.payments_pdf", "unit", str(unit_id), f"ok:{year}")
        return _pdf(data, f"缴费明细-{year}.pdf")

    return r
