"""The portals' server-rendered pages (Jinja2, Simplified Chinese, no JavaScript needed): the unit
declaration portal, the personal portal, the agency workbench (with 短信群发), and public verification.

Mounted by the gateway, which hands in its read dependency (caller, rate limit, consistency, audit) and
the CSRF protector of the login pages, so every front end applies the same rules.
"""

from __future__ import annotations

from fastapi import FastAPI

from hub.access.subject import SubjectKind
from hub.http import problem
from portal_web import activate, broadcasts, declarations, person_requests, unit_admin, unit_staff, workbench
from portal_web.person import router as person_router
from portal_web.ui import CsrfOf, error_renderer
from portal_web.unit import ReadDependency, ui_router
from portal_web.unit import router as unit_router

__all__ = ["mount"]


def mount(app: FastAPI, *, read_dependency: ReadDependency, csrf_of: CsrfOf) -> None:
    app.state.portal_csrf = csrf_of
    app.include_router(unit_router(read_dependency))
    app.include_router(declarations.router(read_dependency))
    app.state.upload_prefixes.append(declarations.UPLOAD_PATH)
    app.state.upload_prefixes.append(declarations.ATTACHMENT_PREFIX)
    app.include_router(unit_staff.router(read_dependency))
    app.state.upload_prefixes.append(unit_staff.UPLOAD_PREFIX)
    app.include_router(person_router(read_dependency))
    app.include_router(person_requests.router(read_dependency))
    app.include_router(broadcasts.router(read_dependency))  # before the workbench: /portal/staff/sms…
    app.include_router(workbench.router(read_dependency))
    app.include_router(ui_router)
    app.include_router(unit_admin.router(read_dependency))
    app.include_router(activate.router)
    problem.serve_html_errors(app, "/portal/unit", error_renderer(SubjectKind.UNIT_OPERATOR))
    problem.serve_html_errors(app, "/portal/ui", error_renderer(SubjectKind.UNIT_OPERATOR))
    problem.serve_html_errors(app, "/portal/me", error_renderer(SubjectKind.PERSON))
    problem.serve_html_errors(app, "/portal/activate", error_renderer(SubjectKind.UNIT_OPERATOR))
    problem.serve_html_errors(app, workbench.PREFIX, error_renderer(SubjectKind.STAFF))
