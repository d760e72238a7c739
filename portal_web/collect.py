"""数据采集 pages: the online collection for units not yet registered, the agency's import of packages made
offline, and the offline version itself (单机版, ``hub collect serve``) with the same forms.

Online (public, under ``/portal/collect``): the contact's mobile number with an image captcha, an SMS code
to that number (the identity service's codes: HMAC-stored, single use, cooldown and daily caps per number
and IP), then the form — unit information and the two person lists — checked as a whole with the
payload's validators, a preview, and a submit that becomes one ``unit_collect`` declaration for the
workbench (idempotent: one per verified session). The verified number is the contact phone.

Import (agency staff, ``/portal/staff/collect/import``): upload a package, see what it will create (or why
it is refused), confirm. The package is kept in Redis between the two steps, bound to the staff account.

Offline (``local_app``): the same form on 127.0.0.1, saved in the clerk's own SQLite file (opened with the
operator's passphrase by ``hub collect serve``); the export to a package is ``hub collect export``.

Both forms take the person lists as pasted lines or as a spreadsheet (``hub.collect.upload``: the template
from ``…/template``, one sheet per list); an uploaded file replaces the pasted lists, gives every error by
sheet, row and column, and otherwise fills the same check and preview.
"""

import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub import pg
from hub.access.context import ReadContext
from hub.access.ratelimit import Limit, RateLimiter
from hub.access.subject import Subject, SubjectKind
from hub.collect import keys, package, rows, upload
from hub.collect import model as collect_model
from hub.collect import service as collect
from hub.collect.local import LocalStore
from hub.declarations import access
from hub.declarations.service import local_day
from hub.declarations.states import STATUS_LABELS
from hub.errors import Conflict, HubError, RateLimited, ValidationFailed
from hub.http.csrf import CsrfProtect
from hub.identity import captcha_store, codes
from hub.identity.crypto import keyed_hash
from hub.identity.errors import IdentityError
from hub.ids import mask_phone
from hub.wagefile.config import WagefileSettings
from portal_web.ui import csrf_of, page

PREFIX = "/portal/collect"
FORM_PATH = f"{PREFIX}/form"  # takes the lists' spreadsheet too: an upload path (gateway/app.py)
TEMPLATE_PATH = f"{PREFIX}/template"
PATHS = (PREFIX, f"{PREFIX}/verify", FORM_PATH, f"{PREFIX}/submit", TEMPLATE_PATH)  # public: gateway.api.PUBLIC_PATHS
IMPORT_PATH = "/portal/staff/collect/import"
CONFIRM_PATH = "/portal/staff/collect/confirm"
TITLE = "单位参保登记（数据采集）"
COOKIE = "hub_collect"
SESSION_SECONDS = 2 * 3600
PURPOSE = "unit_collect"
MAX_FORM_BYTES = 900_000  # the two person lists as text (5,000 lines); under the default body limit
UNIT_TYPES = (
    ("31", "行政机关"), ("32", "党群机关"), ("33", "参照公务员法管理单位"), ("51", "教育事业单位"),
    ("52", "卫生事业单位"), ("53", "科研事业单位"), ("54", "文化事业单位"), ("59", "其他事业单位"),
)  # fmt: skip
FUNDINGS = (("1", "财政全额供款"), ("2", "财政差额供款"), ("3", "自收自支"))

# Posts of the public pages per IP (a security setting, not a policy number): beyond it 429 with Retry-After.
POST_LIMIT = Limit(rate=20 / 60, burst=20)

ReadDependency = Callable[..., AsyncIterator[ReadContext]]


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limited(request: Request) -> Response | None:
    """A 429 page when this IP posts to the public pages too often, else None."""
    limiter = getattr(request.app.state, "collect_limiter", None)
    if limiter is None:
        limiter = RateLimiter(request.app.state.redis, {"collect": {"ip": POST_LIMIT}}, prefix="rl:collect")
        request.app.state.collect_limiter = limiter
    try:
        await limiter.check("collect", {"ip": _ip(request)})
    except RateLimited as exc:
        response = page(
            request, "portal/collect_done.html", subject=None, status=429, title="操作过于频繁",
            message=f"操作过于频繁，请{exc.retry_after}秒后再试。", reference=None, links=[],
        )  # fmt: skip
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return None


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=30, max_part_size=MAX_FORM_BYTES)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, fields)
    return fields


async def _form_and_file(request: Request, settings: WagefileSettings) -> tuple[dict[str, str], bytes | None]:
    """The form's fields (CSRF checked) and the lists' spreadsheet when one was chosen (read up to one byte
    over the size limit, which the reader then refuses)."""
    form = await request.form(max_files=1, max_fields=30, max_part_size=MAX_FORM_BYTES)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf_of(request).check(request, fields)
    chosen = form.get("workbook")
    data = None
    if chosen is not None and not isinstance(chosen, str) and chosen.filename:
        data = await chosen.read(settings.max_file_bytes + 1)
    return fields, data or None


def _template_response() -> Response:
    quoted = quote(upload.TEMPLATE_FILENAME)
    return Response(
        upload.template(),
        media_type=upload.XLSX_TYPE,
        headers={"Content-Disposition": f"attachment; filename=\"template.xlsx\"; filename*=UTF-8''{quoted}"},
    )


def form_context(payload: dict[str, Any] | None, problems: list[str], regions: list[tuple[str, str]]) -> dict[str, Any]:
    """What the collection form shows: the values given so far and every problem found in them."""
    payload = payload or {}
    return {
        "accept": upload.ACCEPT,
        "unit": payload.get("unit") or {},
        "staff_text": rows.text_of(payload.get("staff") or [], rows.STAFF_COLUMNS),
        "retiree_text": rows.text_of(payload.get("retirees") or [], rows.RETIREE_COLUMNS),
        "staff_hint": rows.STAFF_HINT,
        "retiree_hint": rows.RETIREE_HINT,
        "unit_types": UNIT_TYPES,
        "fundings": FUNDINGS,
        "regions": regions,
        "problems": problems,
    }


def check_form(
    fields: dict[str, str],
    *,
    contact_phone: str | None = None,
    workbook: bytes | None = None,
    upload_settings: WagefileSettings | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """(payload, problems) of a submitted form; no problems means the payload is the canonical collection.

    With a ``workbook`` (the lists' spreadsheet) its lists replace the pasted ones; a file with any error
    gives its errors and keeps the pasted text as it was.
    """
    raw = {"unit": {k: fields.get(k, "").strip() for k in rows.UNIT_FIELDS}}
    as_typed = raw | {"staff_text": fields.get("staff", ""), "retiree_text": fields.get("retirees", "")}
    try:
        if workbook is not None:
            lists = upload.read_lists(workbook, upload_settings or WagefileSettings())
            given = rows.payload_of(fields | {"staff": "", "retirees": ""})
            given |= {"staff": lists.staff, "retirees": lists.retirees}
        else:
            given = rows.payload_of(fields)
    except upload.UploadRefused as exc:
        return as_typed, exc.messages
    except rows.RowsError as exc:
        return as_typed, exc.messages
    if contact_phone is not None:
        given["unit"]["contact_phone"] = contact_phone
    try:
        return package.canonical(given), []
    except ValidationFailed as exc:
        return given, package.messages(exc)


def preview_context(payload: dict[str, Any]) -> dict[str, Any]:
    unit = payload["unit"]
    return {
        "payload": payload,
        "unit_type_label": dict(UNIT_TYPES).get(unit["unit_type"], unit["unit_type"]),
        "funding_label": dict(FUNDINGS).get(unit["funding"], unit["funding"]),
    }


def _form_page(
    request: Request, status: int, payload: dict[str, Any] | None, problems: list[str], **extra: Any
) -> Response:
    context = form_context(payload, problems, extra.pop("regions", []))
    context["template_href"] = extra.pop("template_href", TEMPLATE_PATH)
    if payload and "staff_text" in payload:  # a form whose lines could not be split: show the text as typed
        context["staff_text"], context["retiree_text"] = payload["staff_text"], payload["retiree_text"]
    return page(request, "portal/collect_form.html", subject=None, status=status, title=TITLE, **context, **extra)


# Online ------------------------------------------------------------------------------------------


class _Online:
    """The identity runtime's Redis, policies and clock, plus the session kept for a verified number."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.rt = request.app.state.identity
        self.prefix = f"{self.rt.cfg.settings.redis_prefix}collect:"

    def session(self) -> tuple[str, dict[str, Any]] | None:
        token = self.request.cookies.get(COOKIE, "")
        if not 20 <= len(token) <= 64:
            return None
        raw = self.rt.redis.get(self.prefix + "session:" + token)
        return (token, json.loads(raw)) if raw else None

    def save(self, token: str, data: dict[str, Any]) -> None:
        self.rt.redis.set(self.prefix + "session:" + token, json.dumps(data, ensure_ascii=False), ex=SESSION_SECONDS)

    def phone_hash(self, phone: str) -> str:
        return keyed_hash(self.rt.cfg.hmac_key, "collect-phone", phone)[:32]


def _start(request: Request, status: int = 200, **context: Any) -> Response:
    rt = request.app.state.identity
    context.setdefault("phone", "")
    context.setdefault("errors", {})
    try:
        captcha_id, answer = captcha_store.new(rt.redis, rt.cfg.settings.redis_prefix)
        context.update(captcha_id=captcha_id, captcha_image=base64.b64encode(captcha_store.image(answer)).decode())
    except IdentityError as exc:
        context["errors"] = {"form": exc.detail}
    return page(request, "portal/collect_start.html", subject=None, status=status, title=TITLE, **context)


def _regions(request: Request) -> list[tuple[str, str]]:
    with pg.connect(request.app.state.endpoints.query_db_url, autocommit=True) as query:
        return collect.regions(query)


def _no_session(request: Request) -> Response:
    return RedirectResponse(PREFIX, status_code=303)


def online_router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    @r.get("")
    async def start_form(request: Request) -> Response:
        """The contact's mobile number and an image captcha."""
        return await run_in_threadpool(_start, request)

    @r.post("")
    async def send_code(request: Request) -> Response:
        """Check the captcha and send an SMS code to the number given."""
        if (limited := await _limited(request)) is not None:
            return limited
        fields = await _fields(request)
        phone = fields.get("phone", "").strip()[:20]
        on = _Online(request)
        rt = on.rt

        def work() -> Response:
            try:
                collect_model.phone(phone)
            except ValueError:
                return _start(request, 422, phone=phone, errors={"phone": "请填写正确的11位手机号码"})
            try:
                captcha_store.check(
                    rt.redis, rt.cfg.settings.redis_prefix, fields.get("captcha_id", "")[:64],
                    fields.get("captcha", "")[:12], fixed=rt.cfg.settings.test_fixed_captcha,
                )  # fmt: skip
                with rt.hub() as conn:
                    sent = codes.send_code(
                        conn, rt.redis, rt.cfg.codes, purpose=PURPOSE, binding=f"collect:{on.phone_hash(phone)}",
                        phone=phone, ip=_ip(request), now=rt.clock(),
                    )  # fmt: skip
                    conn.commit()
            except IdentityError as exc:
                field = "captcha" if "验证码" in exc.detail and "图形" in exc.detail else "form"
                return _start(request, exc.status, phone=phone, errors={field: exc.detail})
            rt.redis.set(on.prefix + "ticket:" + sent.ticket, phone, ex=rt.cfg.codes.ttl_seconds)
            return page(
                request, "portal/collect_code.html", subject=None, title=TITLE, ticket=sent.ticket,
                masked_phone=sent.phone_masked, errors={},
            )  # fmt: skip

        return await run_in_threadpool(work)

    @r.get("/template")
    async def template() -> Response:
        """The lists' spreadsheet template (blank; the same for every unit)."""
        return await run_in_threadpool(_template_response)

    @r.post("/verify")
    async def verify(request: Request) -> Response:
        """The SMS code: a session for the verified number, then the form."""
        if (limited := await _limited(request)) is not None:
            return limited
        fields = await _fields(request)
        ticket, code = fields.get("ticket", "")[:64], fields.get("code", "").strip()[:12]
        on = _Online(request)
        rt = on.rt

        def work() -> Response:
            raw = rt.redis.get(on.prefix + "ticket:" + ticket) if ticket else None
            phone = raw.decode() if isinstance(raw, bytes) else raw
            masked = mask_phone(phone) if phone else ""

            def again(message: str, status: int = 422) -> Response:
                return page(
                    request, "portal/collect_code.html", subject=None, status=status, title=TITLE, ticket=ticket,
                    masked_phone=masked, errors={"code": message},
                )  # fmt: skip

            if not code:
                return again("请填写短信验证码")
            if not phone:
                return again("验证码已失效，请重新获取")
            with rt.hub() as conn:
                try:
                    challenge = codes.check_code(
                        conn, rt.cfg.codes, ticket=ticket, purpose=PURPOSE, code=code, now=rt.clock()
                    )
                except IdentityError as exc:
                    conn.commit()  # the failed check counts
                    return again(exc.detail, exc.status if exc.status != 400 else 422)
                conn.commit()
            if challenge.binding != f"collect:{on.phone_hash(phone)}":
                return again("验证码已失效，请重新获取")
            rt.redis.delete(on.prefix + "ticket:" + ticket)
            token = secrets.token_urlsafe(32)
            on.save(token, {"phone": phone, "draft": None})
            response = RedirectResponse(f"{PREFIX}/form", status_code=303)
            response.set_cookie(
                COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="lax", path=PREFIX,
                secure=rt.secure_cookies,
            )  # fmt: skip
            return response

        return await run_in_threadpool(work)

    @r.get("/form")
    async def form(request: Request) -> Response:
        """The collection form (values kept from the last check)."""
        on = _Online(request)

        def work() -> Response:
            found = on.session()
            if found is None:
                return _no_session(request)
            _, data = found
            draft = data.get("draft") or {"unit": {"contact_phone": data["phone"]}}
            return _form_page(
                request, 200, draft, [], action=f"{PREFIX}/form", phone_locked=mask_phone(data["phone"]),
                regions=_regions(request),
            )  # fmt: skip

        return await run_in_threadpool(work)

    @r.post("/form")
    async def check(request: Request) -> Response:
        """Check the whole form (with the lists' spreadsheet if one was chosen); show every problem, or the
        preview of what will be submitted."""
        if (limited := await _limited(request)) is not None:
            return limited
        settings: WagefileSettings = request.app.state.settings.wagefile
        fields, workbook = await _form_and_file(request, settings)
        on = _Online(request)

        def work() -> Response:
            found = on.session()
            if found is None:
                return _no_session(request)
            token, data = found
            payload, problems = check_form(
                fields, contact_phone=data["phone"], workbook=workbook, upload_settings=settings
            )
            if problems:
                return _form_page(
                    request, 422, payload, problems, action=f"{PREFIX}/form",
                    phone_locked=mask_phone(data["phone"]), regions=_regions(request),
                )  # fmt: skip
            on.save(token, data | {"draft": payload})
            return page(
                request, "portal/collect_preview.html", subject=None, title="核对填报内容",
                intro="请核对以下内容。提交后由经办机构审核，审核期间不能修改。", flags=[], extra_facts=[],
                confirm_action=f"{PREFIX}/submit", confirm_fields=[], confirm_label="确认提交",
                back_href=f"{PREFIX}/form", **preview_context(payload),
            )  # fmt: skip

        return await run_in_threadpool(work)

    @r.post("/submit")
    async def submit(request: Request) -> Response:
        """Submit the checked collection (once per session: a repeated submit shows the same 受理号)."""
        if (limited := await _limited(request)) is not None:
            return limited
        await _fields(request)
        on = _Online(request)

        def work() -> Response:
            found = on.session()
            if found is None:
                return _no_session(request)
            token, data = found
            if not data.get("draft"):
                return RedirectResponse(f"{PREFIX}/form", status_code=303)
            ep = request.app.state.endpoints
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as query:
                try:
                    decl = collect.submit(
                        hub, query, data["draft"], actor=collect.applicant(data["draft"]["unit"]["uscc"], "portal"),
                        key=f"web:{token}", now=datetime.now(UTC),
                    )  # fmt: skip
                except (ValidationFailed, Conflict) as exc:
                    hub.rollback()
                    problems = package.messages(exc) if isinstance(exc, ValidationFailed) else [exc.detail]
                    return _form_page(
                        request, 422, data["draft"], problems, action=f"{PREFIX}/form",
                        phone_locked=mask_phone(data["phone"]), regions=collect.regions(query),
                    )  # fmt: skip
                hub.commit()
            return page(
                request, "portal/collect_done.html", subject=None, title="已提交",
                message="填报内容已提交经办机构审核。审核通过并办理参保登记后，单位编号和网上服务开通码将以短信发送至联系人手机。",
                reference=decl.reference, status_label=STATUS_LABELS.get(decl.status, ""),
                due_date=decl.due_date, links=[("/portal/activate", "已收到开通码？前往开通单位网上服务")],
            )  # fmt: skip

        return await run_in_threadpool(work)

    return r


# Agency: import of a package ---------------------------------------------------------------------


def import_router(read_dependency: ReadDependency) -> APIRouter:
    Reading = Annotated[ReadContext, Depends(read_dependency)]
    r = APIRouter(include_in_schema=False)

    def staff(ctx: ReadContext) -> Subject:
        subject = ctx.subject
        if subject.kind is not SubjectKind.STAFF:
            raise access.NotPermitted("此页面仅供经办机构工作人员使用")
        access.require_staff_reader(subject)
        return subject

    def chrome(subject: Subject) -> dict[str, Any]:
        from portal_web.workbench import _chrome

        return _chrome(subject, IMPORT_PATH)

    def kek(request: Request) -> str:
        return str(request.app.state.settings.crypto.kek.get_secret_value())

    def refused(request: Request, subject: Subject, title: str, problems: list[str], status: int) -> Response:
        return page(
            request, "portal/collect_import.html", subject=subject, status=status, title="导入数据采集包",
            prefix="/portal/staff", problem_title=title, problems=problems, **chrome(subject),
        )  # fmt: skip

    @r.get(IMPORT_PATH)
    async def import_form(request: Request, ctx: Reading) -> Response:
        subject = staff(ctx)
        return page(
            request, "portal/collect_import.html", subject=subject, title="导入数据采集包", prefix="/portal/staff",
            problems=[], **chrome(subject),
        )  # fmt: skip

    @r.post(IMPORT_PATH)
    async def import_preview(request: Request, ctx: Reading) -> Response:
        """Verify, decrypt and validate the uploaded package; show what it will create (writes nothing)."""
        subject = staff(ctx)
        form = await request.form(max_files=1, max_fields=5, max_part_size=package.MAX_PACKAGE_BYTES)
        csrf_of(request).check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        upload = form.get("package")
        data = (
            await upload.read(package.MAX_PACKAGE_BYTES + 1)
            if upload is not None and not isinstance(upload, str)
            else b""
        )
        if not data:
            return refused(request, subject, "请选择数据采集包文件", [], 422)
        ep = request.app.state.endpoints

        def work() -> collect.Preview:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as query:
                return collect.preview_package(hub, query, data, kek=kek(request), subject=subject, today=_today())

        try:
            shown = await run_in_threadpool(work)
        except package.PackageRefused as exc:
            return refused(request, subject, "数据采集包未通过校验，未导入：", [exc.message], 422)
        except ValidationFailed as exc:
            return refused(request, subject, "数据采集包的内容有误，未导入：", package.messages(exc), 422)
        except keys.KeysUnavailable as exc:
            return refused(request, subject, "无法导入：", [str(exc)], 503)
        token = secrets.token_urlsafe(18)
        await request.app.state.redis.set(
            f"hub:portal:collect-import:{token}",
            json.dumps({"account": subject.account_id, "package": base64.b64encode(data).decode()}),
            ex=30 * 60,
        )
        header = shown.opened.header
        return page(
            request, "portal/collect_preview.html", subject=subject, title="数据采集包预览",
            intro="数据采集包校验通过（完整性、单位签名、解密、逐项校验）。确认导入后作为申报进入审核队列。",
            flags=shown.assessment.flags,
            extra_facts=[
                ("单位签名公钥指纹", shown.opened.unit_key_fingerprint), ("导出时间", header.get("created_at", "")),
            ],
            confirm_action=CONFIRM_PATH, confirm_fields=[("token", token)], confirm_label="确认导入",
            back_href=IMPORT_PATH, **preview_context(shown.opened.payload), **chrome(subject),
        )  # fmt: skip

    @r.post(CONFIRM_PATH)
    async def import_confirm(request: Request, ctx: Reading) -> Response:
        """Submit the previewed package as a declaration (importing a package again shows the same one)."""
        subject = staff(ctx)
        fields = await _fields(request)
        raw = await request.app.state.redis.get(f"hub:portal:collect-import:{fields.get('token', '')[:40]}")
        stored = json.loads(raw) if raw else None
        if not isinstance(stored, dict) or stored.get("account") != subject.account_id:
            return refused(request, subject, "预览已过期，请重新上传数据采集包", [], 410)
        data = base64.b64decode(stored["package"])
        ep = request.app.state.endpoints

        def work() -> Any:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as query:
                _, decl = collect.import_package(
                    hub, query, data, kek=kek(request), subject=subject, now=datetime.now(UTC)
                )
                hub.commit()
                return decl

        try:
            decl = await run_in_threadpool(work)
        except (package.PackageRefused, ValidationFailed, keys.KeysUnavailable, Conflict) as exc:
            message = exc.message if isinstance(exc, package.PackageRefused) else str(exc)
            return refused(request, subject, "未导入：", [message], 422)
        return RedirectResponse(f"/portal/staff/declarations/{decl.id}", status_code=303)

    return r


def _today() -> date:
    return local_day(datetime.now(UTC))


def serve_errors(app: FastAPI) -> None:
    """HTML error pages for the public collection pages (the workbench's cover the import page)."""
    from hub.http import problem
    from portal_web.ui import error_renderer

    problem.serve_html_errors(app, PREFIX, error_renderer(SubjectKind.UNIT_OPERATOR))


def router(read_dependency: ReadDependency) -> APIRouter:
    """The online collection (public) and the agency's import page."""
    r = APIRouter(include_in_schema=False)
    r.include_router(online_router())
    r.include_router(import_router(read_dependency))
    return r


# Offline (单机版) ---------------------------------------------------------------------------------


def local_app(store: LocalStore, *, upload_settings: WagefileSettings | None = None) -> FastAPI:
    """The offline version: the collection form on the clerk's machine, saved in ``store`` (SQLite), whose
    unit key the caller has unlocked with the operator's passphrase (``LocalStore.unlock``)."""
    from hub.http import problem
    from portal_web.unit import ui_router

    store.key_pair()  # refuses a store still locked before any page is served
    settings = upload_settings or WagefileSettings()
    db_path = store.path
    csrf = CsrfProtect(secrets.token_bytes(32), secure=False, cookie_name="hub_collect_csrf")
    app = FastAPI(title="数据采集（单机版）", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal_csrf = lambda _app: csrf
    app.include_router(ui_router)
    intro = "单机版：填报内容只保存在本机文件中。填好后用“hub collect export”导出加密数据包，交经办机构导入。"

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> Response:
        return page(request, "portal/error.html", subject=None, status=exc.status, title=exc.title, detail=exc.detail)

    @app.get("/")
    async def form(request: Request) -> Response:
        saved = await run_in_threadpool(store.load)
        return _form_page(request, 200, saved, [], action="/", intro=intro, template_href="/template")

    @app.get("/template")
    async def template() -> Response:
        return await run_in_threadpool(_template_response)

    @app.post("/")
    async def save(request: Request) -> Response:
        fields, workbook = await _form_and_file(request, settings)
        payload, problems = await run_in_threadpool(
            lambda: check_form(fields, workbook=workbook, upload_settings=settings)
        )
        if problems:
            return _form_page(request, 422, payload, problems, action="/", intro=intro, template_href="/template")
        await run_in_threadpool(store.save, payload)
        fingerprint = await run_in_threadpool(store.unit_key_fingerprint)
        return page(
            request, "portal/collect_preview.html", subject=None, title="已保存",
            intro=f"已通过检查并保存到 {db_path.name}。导出：hub collect export --db {db_path.name} "
            "--agency-key 经办机构公钥文件 --out 数据包文件。",
            flags=[], extra_facts=[("本单位签名公钥指纹（请填写在纸质申报表上）", fingerprint)],
            confirm_action="", confirm_fields=[], confirm_label="", back_href="/", **preview_context(payload),
        )  # fmt: skip

    problem.install(app)
    return app


__all__ = ["IMPORT_PATH", "PATHS", "PREFIX", "local_app", "router"]
