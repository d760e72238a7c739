"""系统管理 — the pages of the three administrators (三员分离) under ``/portal/admin``.

- The system administrator (系统管理员) lists and searches staff accounts, creates one (without roles, with
  a temporary password shown once), disables or re-enables an account (its open sessions end at once)
  resets a second factor and re-issues a temporary password (重置密码: confirmed first, shown once; the
  account's sessions and OAuth grants end at once and the owner gets an SMS notice). At the agency counter,
  after checking the unit's papers, the system administrator also looks a unit of the agency's 统筹区 up
  (单位管理员账号) and re-issues the temporary password of a unit administrator who cannot use the SMS
  self-service reset (``hub.identity.unit_admins``), the same way.
- The security administrator (安全管理员) grants and revokes roles, and manages the clients of kiosks, the
  12333 hotline, partners and the app: registers one (its secret shown once), rotates a secret, disables
  or re-enables a client.
- The auditor (审计管理员) queries the audit log (time range, actor, subject, action, channel, result; paged),
  exports it as CSV and has the hash chains and their signed anchors verified by a background job
  (``hub audit run``): the page shows its progress, refreshing itself while it runs, and its result.

Every rule is the service's (``hub.identity.admin``, ``hub.identity.clients``): each page and each form
calls it with the caller's subject, it refuses with ``Forbidden`` whoever may not, and it writes every
action to the audit chain in the same transaction as the change. A refusal is a 403 page in Chinese, and
the attempt is recorded in the same chain (``hub.identity.refusals``: action, target, reason code, outcome
``refused``); a visitor without a session goes to the staff login and back. Every form carries the CSRF token, checked
before anything else happens.
"""

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.errors import HubError, ValidationFailed
from hub.http import problem
from hub.identity import accounts, admin, clients, core_lookup, password_change, refusals, sessions, unit_admins
from hub.identity.errors import Conflict as AccountConflict
from hub.identity.errors import Forbidden as IdentityForbidden
from hub.identity.errors import IdentityError
from hub.identity.errors import NotFound as AccountNotFound
from hub.ids import mask_name, mask_phone
from hub.persons import paging
from portal_web.ui import SHANGHAI, csrf_of, error_renderer, local_time, page

PREFIX = "/portal/admin"
PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Authenticate = Callable[..., Awaitable[Subject]]
AnchorKeyOf = Callable[[Any], bytes]  # app -> the key the audit anchors are signed with
T = TypeVar("T")

ROLE_LABELS = {
    StaffRole.OPERATOR: "经办人员",
    StaffRole.REVIEWER: "审核人员",
    StaffRole.SYSTEM_ADMIN: "系统管理员",
    StaffRole.SECURITY_ADMIN: "安全管理员",
    StaffRole.AUDITOR: "审计管理员",
}
CHANNEL_LABELS = {Channel.KIOSK: "自助终端", Channel.HOTLINE: "12333热线", Channel.PARTNER: "合作机构"}
CHANNEL_LABELS[Channel.APP] = "掌上12333"
OTHER_CHANNELS = {Channel.PORTAL: "网上服务大厅", Channel.HALL: "经办大厅窗口"}
SCOPE_LABELS = {
    "person:read": "参保信息",
    "contribution:read": "缴费明细",
    "account:read": "个人账户",
    "benefit:read": "待遇信息",
    "card:read": "社保卡",
    "statement:read": "个人权益记录",
    "unit:read": "单位信息",
    "audit:read": "审计日志",
    "openid": "身份标识（OpenID）",
    "profile": "姓名",
    "phone": "手机号码",
    "token:introspect": "令牌校验",
}
# Messages shown after a redirect: the query string carries a code, never text of its own.
NOTICES = {
    "disabled": "账号已停用，其已登录的会话已立即失效。",
    "enabled": "账号已启用。",
    "factor-reset": "已重置第二认证因素；该工作人员下次登录时将通过预留手机号码接收短信验证码。",
    "granted": "已授予角色；该工作人员需重新登录后生效。",
    "revoked": "已撤销角色；该工作人员已登录的会话已立即失效。",
    "client-disabled": "客户端已停用，其令牌已全部作废。",
    "client-enabled": "客户端已启用。",
}
LOCK_LABELS = {"none": "未锁定", "source": "临时锁定（部分来源）", "global": "已锁定"}
VERIFY_STATES = {"queued": "排队等待", "running": "正在校验", "done": "已完成", "failed": "未能完成"}
FINDING_KINDS = {
    "edited": "记录被修改",
    "missing": "记录缺失",
    "relinked": "链接被改动",
    "truncated": "链尾被截断",
    "bad_anchor": "签名无效",
}
CSV_COLUMNS = (
    "时间",
    "操作人类型",
    "操作人",
    "客户端",
    "渠道",
    "操作",
    "对象类型",
    "对象",
    "用途",
    "结果",
    "IP地址",
    "链",
    "序号",
)


class NotPermitted(HubError):
    type = "https://hub.example.gov.cn/problems/forbidden"
    title = "无权访问"
    status = 403
    default_detail = "此页面仅供相应的管理员使用（系统管理员、安全管理员、审计管理员各司其职）"


class Missing(HubError):
    type = "https://hub.example.gov.cn/problems/not-found"
    title = "未找到"
    status = 404
    default_detail = "要操作的账号或客户端不存在"


def nav_for(subject: Subject) -> tuple[tuple[str, str], ...]:
    """The administration menu: only the pages the caller's roles open."""
    items: list[tuple[str, str]] = []
    if subject.has_role(StaffRole.SYSTEM_ADMIN):
        items += [(f"{PREFIX}/accounts", "工作人员账号"), (f"{PREFIX}/unit-admins", "单位管理员账号")]
    if subject.has_role(StaffRole.SECURITY_ADMIN):
        items += [(f"{PREFIX}/roles", "角色授权"), (f"{PREFIX}/clients", "系统客户端")]
    if subject.has_role(StaffRole.AUDITOR):
        items.append((f"{PREFIX}/audit", "审计日志"))
    return tuple(items)


def _chrome(subject: Subject, current: str) -> dict[str, Any]:
    roles = "、".join(ROLE_LABELS[r] for r in sorted(subject.roles) if r in ROLE_LABELS)
    return {"nav": nav_for(subject), "current": current, "subject_label": f"系统管理 · {roles or '工作人员'}"}


def _notice(code: str | None) -> str | None:
    return NOTICES.get(code or "")


def _refusal(exc: IdentityError) -> HubError:
    """A service refusal as the page shows it: 403 (with the service's reason when it gave one) or 404."""
    if isinstance(exc, AccountNotFound):
        return Missing(exc.detail if exc.detail != exc.title else None)
    if isinstance(exc, IdentityForbidden):
        return NotPermitted(exc.detail if exc.detail != exc.title else None)
    return ValidationFailed(exc.detail)


async def _fields(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The posted form after the CSRF check: single values, and every value of repeated fields."""
    form = await request.form(max_files=0, max_fields=40)
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, single)
    multi: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            multi.setdefault(k, []).append(v)
    return single, multi


def _day(value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"{label}格式不正确，应为“年-月-日”，例如2026-10-01") from None


def _audit_filter(params: dict[str, str]) -> admin.AuditFilter:
    """The auditor's filter from the query string; days are Asia/Shanghai calendar days, both included."""
    first, last = _day(params.get("since"), "开始日期"), _day(params.get("until"), "结束日期")
    if first and last and last < first:
        raise ValidationFailed("结束日期不能早于开始日期")

    def text(name: str) -> str | None:
        return (params.get(name) or "").strip()[:64] or None

    return admin.AuditFilter(
        since=datetime.combine(first, time(), SHANGHAI).astimezone(UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), SHANGHAI).astimezone(UTC) if last else None,
        actor=text("actor"),
        target_type=text("target_type"),
        target_id=text("target_id"),
        action=text("action"),
        channel=text("channel"),
        result=text("result"),
    )


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    key = paging.decode(value or None, 2)
    if key is None:
        return None
    return EPOCH + timedelta(microseconds=key[0]), key[1]


def _encode_cursor(after: tuple[datetime, int]) -> str:
    return paging.encode((after[0] - EPOCH) // timedelta(microseconds=1), after[1])


def _csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def audit_csv(rows: list[admin.AuditRow]) -> bytes:
    """The exported records, UTF-8 with a BOM (so Excel shows the Chinese heads), subjects masked."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    local_time(r.at, "%Y-%m-%d %H:%M:%S"),
                    r.actor_kind,
                    r.actor,
                    r.client_id,
                    r.channel,
                    r.action,
                    r.target_type,
                    admin.mask_subject(r.target_id),
                    r.purpose,
                    r.result,
                    r.ip,
                    r.chain_id,
                    str(r.seq),
                )
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


def router(authenticate: Authenticate, anchor_key_of: AnchorKeyOf) -> APIRouter:
    """The administration pages; ``authenticate`` resolves the caller (portal session or token).

    ``anchor_key_of`` is not used by the pages any more: the chain verification runs in ``hub audit run``,
    which signs with its own settings' key; the parameter stays for the app's mount call."""
    Caller = Annotated[Subject, Depends(authenticate)]
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def rt_of(request: Request) -> Any:
        return request.app.state.identity

    async def hub_work(
        request: Request,
        fn: Callable[[psycopg.Connection[Any]], T],
        *,
        commit: bool,
        subject: Subject,
        action: str,
        target: tuple[str, str] = ("admin", "*"),
    ) -> T:
        """``fn`` on a hub-DB connection in a worker thread, committed once; service refusals become pages.

        A refusal by rule rolls back whatever ``fn`` did and records the attempt (``action`` on ``target``,
        a (type, id) pair) with its reason code in the audit chain, in a transaction of its own."""
        url = request.app.state.endpoints.hub_db_url
        rt = rt_of(request)
        ip = request.client.host if request.client else None

        def work() -> T:
            with pg.connect(url) as hub:
                try:
                    out = fn(hub)
                except IdentityForbidden as exc:
                    hub.rollback()
                    refusals.record(
                        hub, subject, action, target_type=target[0], target_id=target[1],
                        reason=refusals.reason_of(exc), now=rt.clock(), ip=ip,
                    )  # fmt: skip
                    hub.commit()
                    raise
                if commit:
                    hub.commit()
                return out

        try:
            return await run_in_threadpool(work)
        except (IdentityForbidden, AccountNotFound) as exc:
            raise _refusal(exc) from None

    def end_sessions(request: Request, account_id: str) -> Any:
        rt = rt_of(request)
        return run_in_threadpool(sessions.revoke_account, rt.redis, rt.sessions, account_id)

    @r.get("")
    async def home(request: Request, subject: Caller) -> Response:
        """Each administrator's first page; anyone else is refused (and the attempt recorded)."""
        items = nav_for(subject)
        if not items:

            def refuse(hub: psycopg.Connection[Any]) -> None:
                raise refusals.Refused(refusals.ROLE_REQUIRED)

            await hub_work(request, refuse, commit=False, subject=subject, action="admin.open")
            raise NotPermitted()  # not reached: the refusal above is the page
        return RedirectResponse(items[0][0], status_code=303)

    # 系统管理员: 工作人员账号 ----------------------------------------------------------------------

    async def show_accounts(
        request: Request,
        subject: Subject,
        *,
        q: str = "",
        page_no: int = 1,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status: int = 200,
        action: str = "account.list",
    ) -> Response:
        offset = (page_no - 1) * PAGE_SIZE
        rows = await hub_work(
            request,
            lambda hub: admin.list_accounts(hub, subject, search=q or None, limit=PAGE_SIZE + 1, offset=offset),
            commit=False,
            subject=subject,
            action=action,
            target=("account", "*"),
        )
        return page(
            request,
            "portal/admin_accounts.html",
            subject=subject,
            status=status,
            title="工作人员账号管理",
            accounts=rows[:PAGE_SIZE],
            more=len(rows) > PAGE_SIZE,
            page_no=page_no,
            q=q,
            me=subject.account_id,
            role_labels=ROLE_LABELS,
            values=values or {},
            errors=errors or {},
            notice=notice,
            **_chrome(subject, f"{PREFIX}/accounts"),
        )

    @r.get("/accounts")
    async def accounts_page(
        request: Request,
        subject: Caller,
        q: Annotated[str, Query(max_length=50)] = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=10000)] = 1,
        msg: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        return await show_accounts(request, subject, q=q.strip(), page_no=page_no, notice=_notice(msg))

    @r.post("/accounts")
    async def account_create(request: Request, subject: Caller) -> Response:
        fields, _ = await _fields(request)
        values = {k: fields.get(k, "").strip()[:100] for k in ("login", "display_name", "phone", "regions")}
        rt = rt_of(request)
        regions = values["regions"].replace(",", " ").replace("，", " ").split()

        def work(hub: psycopg.Connection[Any]) -> tuple[str, str]:
            return admin.create_staff_account(
                hub, rt.cfg, subject, login=values["login"], display_name=values["display_name"],
                phone=values["phone"], region_codes=regions, now=rt.clock(),
            )  # fmt: skip

        try:
            _, password = await hub_work(
                request, work, commit=True, subject=subject, action="account.create",
                target=("account", values["login"] or "*"),
            )  # fmt: skip
        except (admin.InvalidStaffField, AccountConflict) as exc:
            field = exc.field if isinstance(exc, admin.InvalidStaffField) else "login"
            detail = "该工号已被使用" if isinstance(exc, AccountConflict) else exc.detail
            return await show_accounts(request, subject, values=values, errors={field: detail}, status=422)
        return page(
            request,
            "portal/admin_created.html",
            subject=subject,
            title="工作人员账号已建立",
            login=values["login"],
            display_name=values["display_name"],
            password=password,
            valid_days=rt.cfg.settings.temporary_password_days,
            **_chrome(subject, f"{PREFIX}/accounts"),
        )

    async def account_action(request: Request, subject: Subject, account_id: str, action: str) -> Response:
        await _fields(request)
        rt = rt_of(request)

        def work(hub: psycopg.Connection[Any]) -> None:
            if action == "factor-reset":
                admin.reset_second_factor(hub, subject, account_id, now=rt.clock())
            else:
                admin.set_account_status(hub, subject, account_id, active=action == "enabled")

        attempted = {"factor-reset": "account.second_factor_reset", "enabled": "account.enable"}
        await hub_work(
            request, work, commit=True, subject=subject, action=attempted.get(action, "account.disable"),
            target=("account", account_id),
        )  # fmt: skip
        if action != "enabled":  # its open sessions end now, not when they expire
            await end_sessions(request, account_id)
        return RedirectResponse(f"{PREFIX}/accounts?msg={action}", status_code=303)

    @r.post("/accounts/{account_id}/disable")
    async def account_disable(request: Request, subject: Caller, account_id: str) -> Response:
        return await account_action(request, subject, account_id[:40], "disabled")

    @r.post("/accounts/{account_id}/enable")
    async def account_enable(request: Request, subject: Caller, account_id: str) -> Response:
        return await account_action(request, subject, account_id[:40], "enabled")

    @r.post("/accounts/{account_id}/second-factor")
    async def account_factor_reset(request: Request, subject: Caller, account_id: str) -> Response:
        return await account_action(request, subject, account_id[:40], "factor-reset")

    @r.post("/accounts/{account_id}/password")
    async def account_password_reset(request: Request, subject: Caller, account_id: str) -> Response:
        """重置密码: the first post asks for confirmation; the confirmed one (``confirm=yes``) issues a new
        temporary password, shown once, and ends the account's sessions and OAuth grants at once."""
        fields, _ = await _fields(request)
        rt = rt_of(request)
        aid = account_id[:40]
        chrome = _chrome(subject, f"{PREFIX}/accounts")
        valid_days = rt.cfg.settings.temporary_password_days
        attempt: dict[str, Any] = {"subject": subject, "action": admin.PASSWORD_RESET, "target": ("account", aid)}
        if fields.get("confirm") != "yes":
            target = await hub_work(
                request, lambda hub: admin.staff_reset_target(hub, subject, aid), commit=False, **attempt
            )
            return page(
                request, "portal/admin_password.html", subject=subject, title="重置工作人员密码", account=target,
                admin_roles=[ROLE_LABELS[r] for r in sorted(target.roles & admin.ADMIN_ROLES)],
                phone=mask_phone(target.phone) if target.phone else None, reset=None, valid_days=valid_days,
                **chrome,
            )  # fmt: skip
        reset = await hub_work(
            request, lambda hub: admin.reset_staff_password(hub, rt.cfg, subject, aid, now=rt.clock()), commit=True,
            **attempt,
        )  # fmt: skip
        await run_in_threadpool(
            password_change.end_sessions_after_reset, rt.redis, rt.sessions, reset.changed, now=rt.clock(),
            access_token_ttl_seconds=rt.cfg.settings.access_token_ttl_seconds,
        )  # fmt: skip
        return page(
            request, "portal/admin_password.html", subject=subject, title="工作人员密码已重置", account=None,
            reset=reset, expires=local_time(reset.expires_at), valid_days=valid_days, **chrome,
        )  # fmt: skip

    # 系统管理员: 单位管理员账号 (at the agency counter, after checking the unit's papers) ---------------------

    async def show_unit_admins(
        request: Request,
        subject: Subject,
        *,
        code: str = "",
        unit: unit_admins.UnitAdmins | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        return page(
            request,
            "portal/admin_unit_admins.html",
            subject=subject,
            status=status,
            title="单位管理员账号",
            code=code,
            unit=unit,
            lock_labels=LOCK_LABELS,
            errors=errors or {},
            **_chrome(subject, f"{PREFIX}/unit-admins"),
        )

    @r.get("/unit-admins")
    async def unit_admins_page(
        request: Request, subject: Caller, code: Annotated[str, Query(max_length=40)] = ""
    ) -> Response:
        """Look a unit of the agency's 统筹区 up by 统一社会信用代码 or 单位编号 and list its administrators; a
        unit elsewhere answers like a missing one, a malformed code with the reason (nothing written)."""
        code = code.strip()
        rt = rt_of(request)
        core_url = request.app.state.endpoints.core_db_url

        def work(hub: psycopg.Connection[Any]) -> unit_admins.UnitAdmins | None:
            unit_admins.require_system_admin(subject)
            if not code:
                return None
            with core_lookup.read_only(core_url) as core:
                return unit_admins.find(hub, core, rt.cfg, subject, code, now=rt.clock())

        try:
            unit = await hub_work(
                request, work, commit=True, subject=subject, action=unit_admins.LOOKUP,
                target=("unit", unit_admins.compact_code(code)[:18] or "*"),
            )  # fmt: skip
        except unit_admins.InvalidUnitCode as exc:
            return await show_unit_admins(request, subject, code=code, errors={"code": exc.detail}, status=422)
        if code and unit is None:
            missing = "未找到该单位。请核对统一社会信用代码或单位编号；只能查询本经办机构统筹区内的单位。"
            return await show_unit_admins(request, subject, code=code, errors={"code": missing}, status=404)
        return await show_unit_admins(request, subject, code=code, unit=unit)

    @r.post("/unit-admins/{account_id}/password")
    async def unit_admin_password_reset(request: Request, subject: Caller, account_id: str) -> Response:
        """重置密码 of a unit's administrator: the first post asks for confirmation; the confirmed one
        (``confirm=yes``) issues a new temporary password, shown once, and ends the operator's sessions and OAuth
        grants at once. An ordinary operator, or a unit outside the agency's 统筹区, answers as missing."""
        fields, _ = await _fields(request)
        rt = rt_of(request)
        aid = account_id[:40]
        core_url = request.app.state.endpoints.core_db_url
        chrome = _chrome(subject, f"{PREFIX}/unit-admins")
        valid_days = rt.cfg.settings.temporary_password_days
        attempt: dict[str, Any] = {"subject": subject, "action": admin.PASSWORD_RESET, "target": ("account", aid)}
        if fields.get("confirm") != "yes":

            def target_of(hub: psycopg.Connection[Any]) -> tuple[accounts.Account, core_lookup.CoreUnit]:
                with core_lookup.read_only(core_url) as core:
                    return unit_admins.reset_target(hub, core, subject, aid)

            target, unit = await hub_work(request, target_of, commit=False, **attempt)
            return page(
                request, "portal/admin_unit_password.html", subject=subject, title="重置单位管理员密码",
                account=target, display_name=mask_name(target.display_name), unit=unit,
                phone=mask_phone(target.phone) if target.phone else None, reset=None, valid_days=valid_days,
                **chrome,
            )  # fmt: skip

        def reset(hub: psycopg.Connection[Any]) -> tuple[admin.PasswordReset, core_lookup.CoreUnit]:
            with core_lookup.read_only(core_url) as core:
                return unit_admins.reset_password(hub, core, rt.cfg, subject, aid, now=rt.clock())

        done, unit = await hub_work(request, reset, commit=True, **attempt)
        await run_in_threadpool(
            password_change.end_sessions_after_reset, rt.redis, rt.sessions, done.changed, now=rt.clock(),
            access_token_ttl_seconds=rt.cfg.settings.access_token_ttl_seconds,
        )  # fmt: skip
        return page(
            request, "portal/admin_unit_password.html", subject=subject, title="单位管理员密码已重置", account=None,
            unit=unit, reset=done, expires=local_time(done.expires_at), valid_days=valid_days, **chrome,
        )  # fmt: skip

    # 安全管理员: 角色授权 ------------------------------------------------------------------------------

    @r.get("/roles")
    async def roles_page(
        request: Request,
        subject: Caller,
        q: Annotated[str, Query(max_length=50)] = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=10000)] = 1,
        msg: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        offset = (page_no - 1) * PAGE_SIZE
        rows = await hub_work(
            request,
            lambda hub: admin.list_role_holders(hub, subject, search=q.strip() or None, limit=PAGE_SIZE + 1,
                                                offset=offset),
            commit=False, subject=subject, action="role.list", target=("account", "*"),
        )  # fmt: skip
        return page(
            request,
            "portal/admin_roles.html",
            subject=subject,
            title="角色授权",
            accounts=rows[:PAGE_SIZE],
            more=len(rows) > PAGE_SIZE,
            page_no=page_no,
            q=q.strip(),
            me=subject.account_id,
            role_labels=ROLE_LABELS,
            notice=_notice(msg),
            **_chrome(subject, f"{PREFIX}/roles"),
        )

    async def role_action(request: Request, subject: Subject, account_id: str, grant: bool) -> Response:
        fields, _ = await _fields(request)
        try:
            role = StaffRole(fields.get("role", ""))
        except ValueError:
            raise ValidationFailed("请选择角色") from None
        rt = rt_of(request)

        def work(hub: psycopg.Connection[Any]) -> None:
            if grant:
                admin.grant_role(hub, subject, account_id, role, now=rt.clock())
            else:
                admin.revoke_role(hub, subject, account_id, role)

        await hub_work(
            request, work, commit=True, subject=subject, action="role.grant" if grant else "role.revoke",
            target=("account", account_id),
        )  # fmt: skip
        await end_sessions(request, account_id)  # the session's rights are the ones it was opened with
        return RedirectResponse(f"{PREFIX}/roles?msg={'granted' if grant else 'revoked'}", status_code=303)

    @r.post("/roles/{account_id}/grant")
    async def role_grant(request: Request, subject: Caller, account_id: str) -> Response:
        return await role_action(request, subject, account_id[:40], True)

    @r.post("/roles/{account_id}/revoke")
    async def role_revoke(request: Request, subject: Caller, account_id: str) -> Response:
        return await role_action(request, subject, account_id[:40], False)

    # 安全管理员: 系统客户端 ----------------------------------------------------------------------------

    async def show_clients(
        request: Request,
        subject: Subject,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status: int = 200,
        action: str = "client.list",
    ) -> Response:
        rows = await hub_work(
            request, lambda hub: clients.list_clients(hub, subject), commit=False, subject=subject, action=action,
            target=("oauth_client", "*"),
        )  # fmt: skip
        return page(
            request,
            "portal/admin_clients.html",
            subject=subject,
            status=status,
            title="系统客户端管理",
            clients=rows,
            channels=CHANNEL_LABELS,
            channel_names={**CHANNEL_LABELS, **OTHER_CHANNELS},
            allowed={c: sorted(clients.allowed_scopes(c)) for c in CHANNEL_LABELS},
            all_scopes=sorted(set().union(*(clients.allowed_scopes(c) for c in CHANNEL_LABELS))),
            scope_labels=SCOPE_LABELS,
            values=values or {},
            errors=errors or {},
            notice=notice,
            **_chrome(subject, f"{PREFIX}/clients"),
        )

    @r.get("/clients")
    async def clients_page(
        request: Request, subject: Caller, msg: Annotated[str | None, Query(max_length=20)] = None
    ) -> Response:
        return await show_clients(request, subject, notice=_notice(msg))

    @r.post("/clients")
    async def client_register(request: Request, subject: Caller) -> Response:
        fields, multi = await _fields(request)
        values: dict[str, Any] = {k: fields.get(k, "").strip()[:300] for k in ("client_id", "name", "redirect_uri")}
        values["channel"] = fields.get("channel", "")
        values["scopes"] = [s for s in multi.get("scopes", []) if s in SCOPE_LABELS]
        try:
            channel = Channel(values["channel"])
        except ValueError:
            channel = None
        if channel is None:  # the listing below still refuses (and records) a caller without the right
            return await show_clients(
                request, subject, values=values, errors={"channel": "请选择渠道"}, status=422, action="client.register"
            )
        rt = rt_of(request)

        def work(hub: psycopg.Connection[Any]) -> str | None:
            return clients.register_client(
                hub, subject, client_id=values["client_id"], name=values["name"], channel=channel,
                scopes=values["scopes"], redirect_uris=[values["redirect_uri"]] if values["redirect_uri"] else [],
                now=rt.clock(),
            )  # fmt: skip

        try:
            secret = await hub_work(
                request, work, commit=True, subject=subject, action="client.register",
                target=("oauth_client", values["client_id"] or "*"),
            )  # fmt: skip
        except (clients.InvalidClientField, AccountConflict) as exc:
            field = exc.field if isinstance(exc, clients.InvalidClientField) else "client_id"
            field = "redirect_uri" if field == "redirect_uris" else field  # the form's one address field
            detail = "该客户端编号已被使用" if isinstance(exc, AccountConflict) else exc.detail
            return await show_clients(request, subject, values=values, errors={field: detail}, status=422)
        return page(
            request,
            "portal/admin_secret.html",
            subject=subject,
            title="客户端已登记",
            client_id=values["client_id"],
            secret=secret,
            rotated=False,
            **_chrome(subject, f"{PREFIX}/clients"),
        )

    @r.post("/clients/{client_id}/rotate")
    async def client_rotate(request: Request, subject: Caller, client_id: str) -> Response:
        await _fields(request)
        rt = rt_of(request)
        cid = client_id[:48]
        secret = await hub_work(
            request, lambda hub: clients.rotate_secret(hub, subject, cid, now=rt.clock()), commit=True,
            subject=subject, action="client.secret_rotate", target=("oauth_client", cid),
        )  # fmt: skip
        return page(
            request,
            "portal/admin_secret.html",
            subject=subject,
            title="客户端密钥已更换",
            client_id=cid,
            secret=secret,
            rotated=True,
            **_chrome(subject, f"{PREFIX}/clients"),
        )

    async def client_status(request: Request, subject: Subject, client_id: str, active: bool) -> Response:
        await _fields(request)
        rt = rt_of(request)
        revoked = await hub_work(
            request,
            lambda hub: clients.set_client_status(hub, subject, client_id, active=active, now=rt.clock()),
            commit=True,
            subject=subject,
            action="client.enable" if active else "client.disable",
            target=("oauth_client", client_id),
        )
        server = request.app.state.oauth_server
        for grant_id in revoked:  # the resource side refuses these grants' access tokens at once
            await run_in_threadpool(server.mark_revoked, "grant", grant_id)
        # Tokens the client already holds (client credentials have no grant): refused at once while the
        # marker lives, which is longer than any of them.
        await run_in_threadpool(server.mark_revoked if not active else server.clear_revoked, "client", client_id)
        return RedirectResponse(
            f"{PREFIX}/clients?msg={'client-enabled' if active else 'client-disabled'}", status_code=303
        )

    @r.post("/clients/{client_id}/disable")
    async def client_disable(request: Request, subject: Caller, client_id: str) -> Response:
        return await client_status(request, subject, client_id[:48], False)

    @r.post("/clients/{client_id}/enable")
    async def client_enable(request: Request, subject: Caller, client_id: str) -> Response:
        return await client_status(request, subject, client_id[:48], True)

    # 审计管理员: 审计日志 ------------------------------------------------------------------------------

    AUDIT_PARAMS = ("since", "until", "actor", "target_type", "target_id", "action", "channel", "result")

    def audit_params(request: Request) -> dict[str, str]:
        return {k: request.query_params.get(k, "")[:64] for k in AUDIT_PARAMS}

    @r.get("/audit")
    async def audit_page(
        request: Request, subject: Caller, cursor: Annotated[str | None, Query(max_length=64)] = None
    ) -> Response:
        params = audit_params(request)
        f = _audit_filter(params)
        after = _cursor(cursor)
        rt = rt_of(request)
        result = await hub_work(
            request, lambda hub: admin.query_audit(hub, subject, f, after=after, now=rt.clock()), commit=True,
            subject=subject, action="audit.query", target=("audit", "*"),
        )  # fmt: skip
        kept = {k: v for k, v in params.items() if v}
        next_link = (
            f"{PREFIX}/audit?" + urlencode({**kept, "cursor": _encode_cursor(result.next_cursor)})
            if result.next_cursor
            else None
        )
        return page(
            request,
            "portal/admin_audit.html",
            subject=subject,
            title="审计日志查询",
            rows=result.rows,
            mask=admin.mask_subject,
            params=params,
            paged=cursor is not None,
            next_link=next_link,
            export_link=f"{PREFIX}/audit.csv" + (f"?{urlencode(kept)}" if kept else ""),
            **_chrome(subject, f"{PREFIX}/audit"),
        )

    @r.get("/audit.csv")
    async def audit_export(request: Request, subject: Caller) -> Response:
        f = _audit_filter(audit_params(request))
        rt = rt_of(request)
        rows = await hub_work(
            request, lambda hub: admin.export_audit(hub, subject, f, now=rt.clock()), commit=True, subject=subject,
            action="audit.export", target=("audit", "*"),
        )  # fmt: skip
        name = f"审计日志-{datetime.now(UTC).astimezone(SHANGHAI):%Y%m%d%H%M}.csv"
        return Response(
            audit_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @r.post("/audit/verify")
    async def audit_verify(request: Request, subject: Caller) -> Response:
        """Start the background verification of every chain (or find the one running) and show its page."""
        await _fields(request)
        rt = rt_of(request)
        job = await hub_work(
            request, lambda hub: admin.start_verification(hub, subject, now=rt.clock()), commit=True,
            subject=subject, action="audit.verify_start", target=("audit", "*"),
        )  # fmt: skip
        return RedirectResponse(f"{PREFIX}/audit/verify/{job.id}", status_code=303)

    async def show_verification(request: Request, subject: Subject, job_id: int | None) -> Response:
        job = await hub_work(
            request, lambda hub: admin.verification(hub, subject, job_id), commit=False, subject=subject,
            action="audit.verify_view", target=("audit_verify_job", str(job_id) if job_id else "*"),
        )  # fmt: skip
        if job is None and job_id is not None:
            raise Missing("该校验任务不存在")
        total = max(job.rows_total or 0, job.rows_checked) if job else 0
        return page(
            request,
            "portal/admin_verify.html",
            subject=subject,
            title="审计日志完整性校验",
            job=job,
            total=total,
            refresh=job is not None and job.active,
            states=VERIFY_STATES,
            kinds=FINDING_KINDS,
            **_chrome(subject, f"{PREFIX}/audit"),
        )

    @r.get("/audit/verify")
    async def audit_verify_latest(request: Request, subject: Caller) -> Response:
        """The latest verification job (or none yet), with the button to start one."""
        return await show_verification(request, subject, None)

    @r.get("/audit/verify/{job_id}")
    async def audit_verify_job(
        request: Request, subject: Caller, job_id: Annotated[int, Path(ge=1, le=2**62)]
    ) -> Response:
        """One job's progress (the page refreshes itself while it runs) and its result."""
        return await show_verification(request, subject, job_id)

    return r


def mount(app: FastAPI, *, authenticate: Authenticate, anchor_key_of: AnchorKeyOf) -> None:
    """Add the pages (after ``portal_web.mount``, whose CSRF protector they use) and their HTML errors."""
    app.include_router(router(authenticate, anchor_key_of))
    problem.serve_html_errors(app, PREFIX, error_renderer(SubjectKind.STAFF))
