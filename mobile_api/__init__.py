"""The 掌上12333 app backend: JSON under ``/app/v1`` shaped for phones (small payloads, cursor pages,
ETag/304, gzip, stable error codes), mounted by the gateway with its authentication dependency."""

from __future__ import annotations

from fastapi import FastAPI

from mobile_api import password, person_requests
from mobile_api.errors import PREFIX, AppChannelMiddleware
from mobile_api.ministry import MinistryClient, MinistryConfig
from mobile_api.routes import Authenticate, router

__all__ = ["PUBLIC_PATHS", "mount", "router"]

# Operations anyone may call (no token); the gateway lists them among its public paths.
PUBLIC_PATHS = frozenset(
    PREFIX + p
    for p in (
        "/version",
        "/content/policies",
        "/content/news",
        "/content/agency-intros",
        "/content/item",
        "/agencies/nearest",
        "/ministry/job-fairs",
        "/ministry/jobs",
        "/ministry/exams",
    )
)


def mount(app: FastAPI, authenticate: Authenticate) -> None:
    """Add ``/app/v1`` to ``app``: the routes, the error-code and gzip middleware for that prefix, and the
    ministry client (``app.state.ministry_config`` if a test set one, else the settings' ``HUB_MINISTRY__…``)."""
    app.add_middleware(AppChannelMiddleware)
    app.include_router(router(authenticate))
    app.include_router(person_requests.router(authenticate))  # 联系方式变更, 社保卡挂失/解挂, 办理进度
    app.include_router(password.router(authenticate))  # 修改登录密码

    async def start(app: FastAPI) -> None:
        config = getattr(app.state, "ministry_config", None) or MinistryConfig.from_settings(
            app.state.settings.ministry
        )
        app.state.ministry = MinistryClient(config, app.state.redis)

    app.state.startup_hooks.append(start)
