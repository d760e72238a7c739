"""The administration pages' test kit: the gateway app on fresh databases, one account per staff role
(logged in through the real staff pages: password, then the SMS code), and sessions for a unit operator
and a person (whose logins need a core record; their sessions are the same Redis sessions a login opens)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import clients, sessions
from tests.conftest import Databases
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit as staff_kit

CODE = staff_kit.CODE
REGION = "430102"


def app_for(dbs: Databases) -> Any:
    app, _ = make_app(dbs, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)
    return app


@dataclass
class Who:
    """One caller: a label, the portal session id, the staff account id and login (None / "" otherwise)."""

    label: str
    session_id: str
    account_id: str | None
    login: str


def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def staff(app: Any, dbs: Databases, role: StaffRole, name: str = "工作人员") -> dict[str, str]:
    return staff_kit.add_staff(app, dbs.hub_url, role, (REGION,), name)


def session_cookie(app: Any) -> str:
    return str(app.state.identity.cfg.settings.session_cookie)


def log_in_staff(c: TestClient, app: Any, dbs: Databases, role: StaffRole, name: str = "工作人员") -> Who:
    """A new account holding ``role``, logged in through the staff pages (password + SMS code) on ``c``.

    The app's async Redis client belongs to one event loop, so the tests use one client and switch
    between callers by their session cookie (``act_as``)."""
    account = staff(app, dbs, role, name)
    c.cookies.delete(session_cookie(app))
    staff_kit.log_in(c, "staff", account["login"], "/portal/admin")
    session_id = c.cookies.get(session_cookie(app))
    assert session_id
    c.cookies.delete(session_cookie(app))
    return Who(role.value, session_id, account["account_id"], account["login"])


def session_of(app: Any, label: str, subject: Subject) -> Who:
    """A portal session of ``subject`` (a unit operator or a person), as their login would open it."""
    rt = app.state.identity
    return Who(label, sessions.create(rt.redis, rt.sessions, subject, rt.clock()), None, "")


def act_as(c: TestClient, app: Any, who: Who | None) -> TestClient:
    """Send the next requests as ``who`` (None: without a session)."""
    c.cookies.delete(session_cookie(app))
    if who is not None:
        c.cookies.set(session_cookie(app), who.session_id)
    return c


def unit_operator_subject() -> Subject:
    return Subject(
        kind=SubjectKind.UNIT_OPERATOR, account_id="acc_unit" + uuid.uuid4().hex[:8], client_id=sessions.SESSION_CLIENT,
        channel=Channel.PORTAL, scopes=frozenset({"unit:read"}), unit_id=1, unit_admin=True,
        auth_methods=("pwd", "captcha", "sms"),
    )  # fmt: skip


def person_subject() -> Subject:
    return Subject(
        kind=SubjectKind.PERSON, account_id="acc_person" + uuid.uuid4().hex[:6], client_id=sessions.SESSION_CLIENT,
        channel=Channel.PORTAL, scopes=frozenset({"person:read"}), person_id=1, auth_methods=("pwd", "sms"),
    )  # fmt: skip


def register_app_client(dbs: Databases, client_id: str, now: Any) -> None:
    """The 掌上12333 app's OAuth client (a public client with refresh tokens), for grants to revoke."""
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn, client_id=client_id, name="掌上12333", channel=Channel.APP,
            grant_types=[clients.AUTHORIZATION_CODE, clients.REFRESH_TOKEN], scopes=["openid"],
            redirect_uris=["cn.gov.hrss.app12333:/oauth/callback"], public=True, now=now,
        )  # fmt: skip
        conn.commit()


def every_caller(c: TestClient, app: Any, dbs: Databases) -> tuple[dict[str, Who], dict[str, tuple[str, str]]]:
    """One logged-in caller per staff role plus a unit operator and a person, and who each is in the audit
    log: label -> (actor kind, actor)."""
    who = {role.value: log_in_staff(c, app, dbs, role) for role in StaffRole}
    unit_operator, person = unit_operator_subject(), person_subject()
    who["unit_operator"] = session_of(app, "unit_operator", unit_operator)
    who["person"] = session_of(app, "person", person)
    actors = {label: ("staff", str(w.account_id)) for label, w in who.items() if w.account_id}
    actors["unit_operator"] = ("unit_operator", unit_operator.account_id)
    actors["person"] = ("person", person.account_id)
    return who, actors


def hidden(html: str) -> dict[str, str]:
    return staff_kit.hidden(html)


def csrf(c: TestClient) -> dict[str, str]:
    """A valid CSRF token for this browser (the login page issues one like every page)."""
    return staff_kit.csrf(c, "/auth/login")


def post(c: TestClient, path: str, **data: Any) -> Any:
    return c.post(path, data={**csrf(c), **data}, follow_redirects=False)


def snapshot(dbs: Databases) -> dict[str, Any]:
    """Everything an administration action could write: accounts (passwords included), lockout counters, the
    SMS outbox, roles, clients, grants, verification jobs, the audit log."""
    with pg.connect(dbs.hub_url) as conn:
        return {
            "accounts": conn.execute(
                "select id, status, totp_secret is not null, password_hash, password_must_change, "
                "password_expires_at from hub.account order by id"
            ).fetchall(),
            "lockout": conn.execute(
                "select account_id, source, failures from hub.login_failure order by 1, 2"
            ).fetchall(),
            "sms": conn.execute("select count(*) from hub.sms_message").fetchone(),
            "roles": conn.execute("select account_id, role from hub.account_role order by 1, 2").fetchall(),
            "clients": conn.execute(
                "select client_id, secret_hash, grant_types, status from hub.oauth_client order by 1"
            ).fetchall(),
            "verify_jobs": conn.execute("select id, state from hub.audit_verify_job order by 1").fetchall(),
            "grants": conn.execute("select id, revoked_at from hub.oauth_grant order by 1").fetchall(),
            "audit": conn.execute("select count(*) from hub.audit_log").fetchone(),
        }


def audit_actions(dbs: Databases, target_id: str) -> list[tuple[str, str, str]]:
    """(action, actor, result) of every record about ``target_id`` in the order written (one chain per process)."""
    with pg.connect(dbs.hub_url) as conn:
        rows = conn.execute(
            "select action, actor, result from hub.audit_log where target_id = %s order by chain_id, seq", (target_id,)
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def secret_on(html: str) -> str:
    found = re.search(r"<dt>(?:客户端密钥|临时密码)</dt><dd><code>([^<]+)</code></dd>", html)
    assert found, html
    return found.group(1)


def start_login(c: TestClient, login: str, password: str) -> Any:
    """The staff login's first step (password); 200 asks for the second factor, else the refusal page."""
    form = c.get("/auth/login?kind=staff")
    data = {**hidden(form.text), "kind": "staff", "login": login, "password": password, "next": "/portal/admin"}
    return c.post("/auth/login", data=data)


def finish_login(c: TestClient, started: Any, code: str = CODE) -> Any:
    return c.post(
        "/auth/login/verify",
        data={**hidden(started.text), "code": code, "next": "/portal/admin"},
        follow_redirects=False,
    )


def tick(app: Any) -> None:
    """Move the identity clock past the SMS resend cooldown (60 s) before another code to the same phone."""
    app.state.identity.clock.advance(61)
