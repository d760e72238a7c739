"""The gateway's identity endpoints: login pages, the OAuth 2.1 authorization server, discovery and JWKS.

Protected routes elsewhere use ``gateway.identity.deps.Authenticated`` (or ``current_subject``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from gateway.identity.deps import (
    Authenticated,
    MaybeAuthenticated,
    PasswordChangeRequired,
    current_subject,
    password_change_required,
    require_scopes,
)
from gateway.identity.oauth_server import OAuthServer
from gateway.identity.routes_login import error_page
from gateway.identity.routes_login import router as login_router
from gateway.identity.routes_oauth import router as oauth_router
from gateway.identity.runtime import IdentityRuntime
from hub.http import problem
from hub.runtime import Endpoints
from hub.settings import Settings

__all__ = ["Authenticated", "MaybeAuthenticated", "current_subject", "mount", "require_scopes"]

log = logging.getLogger(__name__)


def mount(app: FastAPI, settings: Settings, endpoints: Endpoints) -> None:
    """Add this area's routes to app; startup work goes into app.state.startup_hooks."""
    settings.auth.check_environment(settings.environment)
    # authlib logs whole token responses at DEBUG; keep it above that whatever the root level is.
    logging.getLogger("authlib").setLevel(logging.INFO)
    rt = IdentityRuntime.build(settings, endpoints)
    app.state.identity = rt
    app.state.oauth_server = OAuthServer(rt)
    app.include_router(oauth_router)
    app.include_router(login_router)
    # The login pages answer errors (CSRF refusals, unknown pages, crashes) with Chinese HTML pages.
    problem.serve_html_errors(app, "/auth", error_page)
    # A restricted session (administrator-issued password) anywhere but the change page.
    app.add_exception_handler(PasswordChangeRequired, password_change_required)

    async def load_keys(app: FastAPI) -> None:
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(rt.signing_keys, refresh=True)
        except Exception as exc:  # the hub DB may not be migrated yet; keys load on first use
            log.warning("signing keys not loaded at startup: %s", type(exc).__name__)

    app.state.startup_hooks.append(load_keys)
