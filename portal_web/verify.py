"""Public certificate verification (证明核验): ``/verify`` (type the code) and ``/verify/{code}`` (the QR target).

Anyone may verify, without logging in. The page shows, masked, what the hub itself recorded that the
certificate states, while it is valid; the holder's PDF is compared against it by eye, and its
digital signature is checked by a PDF reader. Every lookup counts against a per-IP budget, so codes
cannot be guessed at speed (besides being 80-bit MACs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hub.access.ratelimit import Limit, RateLimiter
from hub.certificates import codes
from hub.certificates import service as certificates
from hub.certificates.config import CertificateSettings
from hub.certificates.pdf import SHANGHAI
from hub.db import WriteConnection
from hub.errors import RateLimited
from hub.http import html, problem
from hub.settings import Settings

ROUTE_CLASS = "verify"
PATHS = ("/verify",)  # public: listed in gateway.api.PUBLIC_PATHS

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)


def _settings(request: Request) -> CertificateSettings:
    settings: CertificateSettings = request.app.state.certificate_settings
    return settings


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(SHANGHAI)
    return f"{local.year}年{local.month:02d}月{local.day:02d}日 {local:%H:%M}"


def _page(
    request: Request, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    context["csp_nonce"] = html.csp_nonce(request)
    response = templates.TemplateResponse(request, name, context, status_code=status, headers=headers)
    html.secure_page(request, response)
    return response


async def _lookup(request: Request, text: str) -> HTMLResponse:
    limiter: RateLimiter = request.app.state.certificate_limiter
    ip = request.client.host if request.client else "unknown"
    try:
        await limiter.check(ROUTE_CLASS, {"ip": ip})
    except RateLimited as exc:
        return _page(
            request,
            "verify.html",
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
            title="证明核验",
            error=f"核验次数过多，请{exc.retry_after}秒后再试。",
            typed=text,
        )
    async with request.app.state.pools.hub.connection() as conn:
        result = await certificates.verify(
            WriteConnection(conn), text, settings=_settings(request), now=datetime.now(UTC)
        )
    ok = result.outcome is certificates.Outcome.VALID
    return _page(
        request,
        "verify_result.html",
        status=200 if ok else 404,
        title="证明核验结果",
        ok=ok,
        outcome=result.outcome.value,
        message=result.message,
        certificate_id=result.certificate_id if ok or result.outcome is certificates.Outcome.EXPIRED else None,
        issued_at=_local(result.issued_at),
        expires_at=_local(result.expires_at),
        masked=result.masked,
        code=codes.display(code) if (code := codes.normalize(text)) else None,
    )


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(request: Request) -> HTMLResponse:
    """The form to type a verification code."""
    return _page(request, "verify.html", title="证明核验", error=None, typed="")


@router.post("/verify", response_class=HTMLResponse)
async def verify_typed(request: Request, code: str = Form("", max_length=64)) -> HTMLResponse:
    """A code typed into the form (POST keeps it out of URLs and access logs)."""
    if not code.strip():
        return _page(request, "verify.html", status=400, title="证明核验", error="请输入验证码。", typed="")
    return await _lookup(request, code)


@router.get("/verify/{code}", response_class=HTMLResponse)
async def verify_link(request: Request, code: str) -> HTMLResponse:
    """The address the certificate's QR code points at."""
    return await _lookup(request, code[:64])


def certificate_settings(settings: Settings) -> CertificateSettings:
    """``settings.certificates`` (``HUB_CERTIFICATES__…``) when the process settings carry the group, else
    the defaults; production refuses the development MAC key."""
    found = getattr(settings, "certificates", None)
    cfg = found if isinstance(found, CertificateSettings) else CertificateSettings()
    cfg.check_environment(settings.environment)
    return cfg


def mount(app: FastAPI, hub_settings: Settings) -> None:
    """Add the verification pages; the limiter is built once Redis is open (startup hook)."""
    settings = certificate_settings(hub_settings)
    app.state.certificate_settings = settings
    app.include_router(router)
    # Errors under /verify (a too-long form field, a crash) are Chinese HTML pages, not problem+json.
    problem.serve_html_errors(app, "/verify")

    async def start(app: FastAPI) -> None:
        # Read at startup, so a test or an embedding process may replace the settings after mount.
        cfg: CertificateSettings = app.state.certificate_settings
        app.state.certificate_limiter = RateLimiter(
            app.state.redis,
            {ROUTE_CLASS: {"ip": Limit(cfg.verify_per_minute / 60, cfg.verify_burst)}},
            prefix="rl:certificates",
        )

    app.state.startup_hooks.append(start)
