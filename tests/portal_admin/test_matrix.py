"""Who may open what: every administration route × the five staff roles, a unit operator, a person and an
anonymous visitor. Only the route's own administrator gets in (三员分离: none does another's job); every
other caller gets the Chinese 403 page, nothing of the attempt is written, and exactly one audit record of
it is (caller, action attempted, target, reason code, outcome 'refused'); an anonymous visitor is sent to
the staff login and back, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import Channel, StaffRole
from hub.audit import verify_job
from hub.identity import clients
from tests.conftest import Databases
from tests.identity.idkit import T0
from tests.portal_admin import kit

SYS, SEC, AUD = StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.AUDITOR
MATRIX_CLIENT = "kiosk-matrix"


Route = tuple[str, str, StaffRole, dict[str, Any], tuple[str, str, str]]


def routes(target: str, job: int = 1) -> list[Route]:
    """(method, path, the one role that may use it, form fields, what a refusal records: the action attempted,
    the target's type and id) for every route of the area."""
    acc, cli, aud = ("account", target), ("oauth_client", MATRIX_CLIENT), ("audit", "*")
    return [
        ("GET", "/portal/admin/accounts?q=st", SYS, {}, ("account.list", "account", "*")),
        ("POST", "/portal/admin/accounts", SYS,
         {"login": "newstaff01", "display_name": "新同事", "phone": "13912345678", "regions": kit.REGION},
         ("account.create", "account", "newstaff01")),
        ("POST", f"/portal/admin/accounts/{target}/disable", SYS, {}, ("account.disable", *acc)),
        ("POST", f"/portal/admin/accounts/{target}/enable", SYS, {}, ("account.enable", *acc)),
        ("POST", f"/portal/admin/accounts/{target}/second-factor", SYS, {}, ("account.second_factor_reset", *acc)),
        ("POST", f"/portal/admin/accounts/{target}/password", SYS, {}, ("account.password_reset", *acc)),
        ("POST", f"/portal/admin/accounts/{target}/password", SYS, {"confirm": "yes"},
         ("account.password_reset", *acc)),
        ("GET", "/portal/admin/unit-admins", SYS, {}, ("unit.admin_lookup", "unit", "*")),
        ("POST", f"/portal/admin/unit-admins/{target}/password", SYS, {}, ("account.password_reset", *acc)),
        ("POST", f"/portal/admin/unit-admins/{target}/password", SYS, {"confirm": "yes"},
         ("account.password_reset", *acc)),
        ("GET", "/portal/admin/roles", SEC, {}, ("role.list", "account", "*")),
        ("POST", f"/portal/admin/roles/{target}/grant", SEC, {"role": "reviewer"}, ("role.grant", *acc)),
        ("POST", f"/portal/admin/roles/{target}/revoke", SEC, {"role": "operator"}, ("role.revoke", *acc)),
        ("GET", "/portal/admin/clients", SEC, {}, ("client.list", "oauth_client", "*")),
        ("POST", "/portal/admin/clients", SEC,
         {"client_id": "kiosk-new", "name": "新终端", "channel": "kiosk", "scopes": "person:read"},
         ("client.register", "oauth_client", "kiosk-new")),
        ("POST", f"/portal/admin/clients/{MATRIX_CLIENT}/rotate", SEC, {}, ("client.secret_rotate", *cli)),
        ("POST", f"/portal/admin/clients/{MATRIX_CLIENT}/disable", SEC, {}, ("client.disable", *cli)),
        ("POST", f"/portal/admin/clients/{MATRIX_CLIENT}/enable", SEC, {}, ("client.enable", *cli)),
        ("GET", "/portal/admin/audit?action=account.", AUD, {}, ("audit.query", *aud)),
        ("GET", "/portal/admin/audit.csv", AUD, {}, ("audit.export", *aud)),
        ("POST", "/portal/admin/audit/verify", AUD, {}, ("audit.verify_start", *aud)),
        ("GET", "/portal/admin/audit/verify", AUD, {}, ("audit.verify_view", "audit_verify_job", "*")),
        ("GET", f"/portal/admin/audit/verify/{job}", AUD, {}, ("audit.verify_view", "audit_verify_job", str(job))),
    ]  # fmt: skip


def _refused_rows(dbs: Databases) -> set[tuple[Any, ...]]:
    """Every refused attempt in the audit log: (chain, seq, actor kind, actor, action, target type, target id,
    reason, outcome)."""
    with pg.connect(dbs.hub_url) as conn:
        rows = conn.execute(
            "select chain_id, seq, actor_kind, actor, action, target_type, target_id, purpose, result "
            "from hub.audit_log where result = 'refused'"
        ).fetchall()
    return {tuple(r) for r in rows}


def _without_audit(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k != "audit"}


Env = tuple[Any, TestClient, dict[str, kit.Who], dict[str, tuple[str, str]], int]


@pytest.fixture
def env(dbs: Databases) -> Iterator[Env]:
    app = kit.app_for(dbs)
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn, client_id=MATRIX_CLIENT, name="矩阵终端", channel=Channel.KIOSK,
            grant_types=[clients.CLIENT_CREDENTIALS], scopes=["person:read"], now=T0,
        )  # fmt: skip
        job, _ = verify_job.start(conn, "acc_earlier_auditor", T0)  # a finished job's page, for the auditor
        conn.execute("update hub.audit_verify_job set state = 'done', finished_at = %s where id = %s", (T0, job.id))
        conn.commit()
    with kit.client(app) as c:
        who, actors = kit.every_caller(c, app, dbs)
        yield app, c, who, actors, job.id


def test_each_route_opens_only_for_its_own_administrator(env: Env, dbs: Databases) -> None:
    app, c, who, actors, job = env
    target = who["operator"].account_id
    assert target is not None  # an operator's account: the object of the account and role forms
    before = kit.snapshot(dbs)
    refused = 0
    for method, path, role, fields, (action, target_type, target_id) in routes(target, job):
        for label, caller in who.items():
            if label == role.value:
                continue
            seen = _refused_rows(dbs)
            kit.act_as(c, app, caller)
            answer = kit.post(c, path, **fields) if method == "POST" else c.get(path)
            assert answer.status_code == 403, (label, method, path, answer.status_code, answer.text[:300])
            assert "text/html" in answer.headers["content-type"] and "无权" in answer.text, (label, path)
            # One record of the attempt, in the chain of the accepted actions: who, what, on what, why.
            new = [r[2:] for r in _refused_rows(dbs) - seen]
            assert new == [(*actors[label], action, target_type, target_id, "role_required", "refused")], (
                label, path, new,
            )  # fmt: skip
            refused += 1
    # 23 routes (each password reset's confirmation and its confirmed post count apart), each refused to the
    # 6 callers that do not hold its role.
    assert refused == 23 * 6
    after = kit.snapshot(dbs)
    assert _without_audit(after) == _without_audit(before)  # nothing of any attempt was written
    assert after["audit"][0] == before["audit"][0] + refused  # only the records of the refusals

    # The pages open for their own administrator (the actions themselves: tests/portal_admin/test_pages.py).
    for method, path, role, _, _ in routes(target, job):
        if method == "GET":
            answer = kit.act_as(c, app, who[role.value]).get(path)
            assert answer.status_code == 200, (role, path, answer.text[:300])
            if path.endswith(".csv"):
                assert answer.headers["content-type"].startswith("text/csv")
            else:  # the page chrome links an administrator to this area
                assert '<a href="/portal/admin">系统管理</a>' in answer.text
    # The area's entry sends each administrator to their first page and refuses everyone else.
    firsts = {"system_admin": "/portal/admin/accounts", "security_admin": "/portal/admin/roles"}
    firsts["auditor"] = "/portal/admin/audit"
    for label, caller in who.items():
        seen = _refused_rows(dbs)
        answer = kit.act_as(c, app, caller).get("/portal/admin", follow_redirects=False)
        new = [r[2:] for r in _refused_rows(dbs) - seen]
        if label in firsts:
            assert answer.status_code == 303 and answer.headers["location"] == firsts[label], label
            assert new == []
        else:
            assert answer.status_code == 403 and "仅供相应的管理员使用" in answer.text, label
            assert new == [(*actors[label], "admin.open", "admin", "*", "role_required", "refused")], label


def test_an_anonymous_visitor_goes_to_the_staff_login(dbs: Databases) -> None:
    app = kit.app_for(dbs)
    with kit.client(app) as c:
        for method, path, _, fields, _ in routes("acc_anyone"):
            if method == "GET":
                answer = c.get(path, follow_redirects=False)
                assert answer.status_code == 303, (path, answer.text[:200])
                assert answer.headers["location"].startswith("/auth/login?kind=staff&next=%2Fportal%2Fadmin%2F")
            else:
                before = kit.snapshot(dbs)
                answer = kit.post(c, path, **fields)
                assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/login?kind=staff")
                assert kit.snapshot(dbs) == before
