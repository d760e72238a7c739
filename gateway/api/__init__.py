"""The gateway's REST API (``/api/v1``), GraphQL (``/graphql``), and the access machinery they share."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError

from gateway.api import audit, persons, units
from gateway.graphql.router import graphql_router
from hub.access.cache import CacheTailer, HotCache
from hub.access.ratelimit import RateLimiter, limits_with
from hub.audit.chain import sm3
from hub.audit.writer import AuditLog
from hub.http import problem
from hub.http.request_id import RequestIdMiddleware
from hub.runtime import Endpoints
from hub.settings import Settings

log = logging.getLogger(__name__)

# Paths anyone may call without a token (the identity area's login and OAuth endpoints authenticate by
# their own means); tests/api/test_problems_and_routes.py holds every other route to 401.
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/auth/password-reminder",  # a static reminder page, no data
        "/portal/ui/text-size",  # the large-text switch (CSRF-checked); anyone may change their text size
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/oauth/authorize",
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/auth/login",
        "/auth/login/verify",
        "/auth/logout",
        "/auth/register",
        "/auth/register/verify",
        "/auth/reset",
        "/auth/reset/verify",
        "/auth/unlock",
        "/auth/unlock/verify",
        "/verify",  # public certificate verification (portal_web/verify.py)
        "/portal/activate",  # first login of a unit: activation code (portal_web/activate.py)
        "/portal/activate/verify",
        "/portal/activate/counter",
        "/portal/collect",  # 数据采集 of an unregistered unit (portal_web/collect.py)
        "/portal/collect/verify",
        "/portal/collect/form",
        "/portal/collect/submit",
        "/portal/collect/template",  # the lists' blank spreadsheet template
        # the app's public operations (mobile_api.PUBLIC_PATHS)
        "/app/v1/version",
        "/app/v1/content/policies",
        "/app/v1/content/news",
        "/app/v1/content/agency-intros",
        "/app/v1/content/item",
        "/app/v1/agencies/nearest",
        "/app/v1/ministry/job-fairs",
        "/app/v1/ministry/jobs",
        "/app/v1/ministry/exams",
    }
)

DEV_ANCHOR_KEY = sm3(b"development audit anchor key - never use in production")


def anchor_key(settings: Settings) -> bytes:
    """The audit-anchor signing key (``HUB_AUTH__AUDIT_ANCHOR_KEY``); a development key outside production."""
    configured = settings.auth.audit_anchor_key
    if configured is not None:
        return sm3(configured.get_secret_value().encode())
    if settings.environment == "production":
        raise RuntimeError("production needs an audit anchor key (HUB_AUTH__AUDIT_ANCHOR_KEY)")
    return DEV_ANCHOR_KEY


def mount(app: FastAPI, settings: Settings, endpoints: Endpoints) -> None:
    """Add this area's routes to app; startup work goes into app.state.startup_hooks."""
    app.add_middleware(problem.UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)  # added last, so outermost: the error middleware sees the id
    problem.install(app, validation_error=RequestValidationError)
    app.state.consistency_timeout = 2.0
    app.state.rate_limits = limits_with(settings.rate_limits)

    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(persons.router)
    v1.include_router(units.router)
    v1.include_router(audit.router)
    app.include_router(v1)

    graphql = graphql_router(production=settings.environment == "production")
    app.include_router(graphql)
    app.state.graphql_schema = graphql.schema  # the fast path (gateway/fast.py) executes the same schema

    async def start(app: FastAPI) -> None:
        app.state.rate_limiter = RateLimiter(app.state.redis, app.state.rate_limits)
        key = getattr(app.state, "audit_anchor_key", None) or anchor_key(settings)
        audit_log = AuditLog(app.state.pools.hub, anchor_key=key)
        await audit_log.start()
        app.state.audit = audit_log
        app.state.read_cache = None
        app.state.read_cache_tailer = None
        if settings.read_cache_entries > 0:
            app.state.read_cache = HotCache(settings.read_cache_entries)
            app.state.read_cache_tailer = CacheTailer(app.state.read_cache, endpoints.query_db_url)
            app.state.read_cache_tailer.start()

    async def stop(app: FastAPI) -> None:
        if app.state.read_cache_tailer is not None:
            await app.state.read_cache_tailer.stop()
        # The final anchor signs the tail, so a cut after shutdown is detected too.
        await app.state.audit.close()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
