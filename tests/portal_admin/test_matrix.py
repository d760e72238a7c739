"""Who may open what: every administration route × the five staff roles, a unit operator, a person and an
anonymous visitor. Only the route's own administrator gets in (三员分离: none does another's job); every
other caller gets the Chinese 403 page and nothing is written, not even an audit record; an anonymous
visitor is sent to the staff login and back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import Channel, StaffRole
from hub.identity import clients
from tests.conftest import Databases
from tests.identity.idkit import T0
from tests.portal_admin import kit

SYS, SEC, AUD = StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.AUDITOR
MATRIX_CLIENT = "kiosk-matrix"


def routes(target: str) -> list[tuple[str, str, StaffRole, dict[str, Any]]]:
    """(method, path, the one role that may use it, form fields) for every route of the area."""
    return [
        ("GET", "/portal/admin/accounts?q=st", SYS, {}),
        ("POST", "/portal/admin/accounts", SYS,
         {"login": "newstaff01", "display_name": "新同事", "phone": "13912345678", "regions": kit.REGION}),
        ("POST", f"/portal/admin/accounts/{target}/disable", SYS, {}),
        ("POST", f"/portal/admin/accounts/{target}/enable", SYS, {}),
        ("POST", f"/portal/admin/accounts/{target}/second-factor", SYS, {}),
        ("GET", "/portal/admin/roles", SEC, {}),
        ("POST", f"/portal/admin/roles/{target}/grant", SEC, {"role": "reviewer"}),
        ("POST", f"/portal/admin/roles/{target}/revoke", SEC, {"role": "operator"}),
        ("GET", "/portal/admin/clients", SEC, {}),
        ("POST", "/portal/admin/clients", SEC,
         {"client_id": "kiosk-new", "name": "新终端", "channel": "kiosk", "scopes": "person:read"}),
        ("POST", f"/portal/admin/clients/{MATRIX_CLIENT}/rotate", SEC, {}),
        ("POST", f"/portal/admin/clients/{MATRIX_CLIENT}/disable", SEC, {}),
        ("POST", f"/portal/admin/clients/{MATRIX_CLIENT}/enable", SEC, {}),
        ("GET", "/portal/admin/audit?action=account.", AUD, {}),
        ("GET", "/portal/admin/audit.csv", AUD, {}),
        ("POST", "/portal/admin/audit/verify", AUD, {}),
    ]  # fmt: skip


@pytest.fixture
def env(dbs: Databases) -> Iterator[tuple[Any, TestClient, dict[str, kit.Who]]]:
    app = kit.app_for(dbs)
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn, client_id=MATRIX_CLIENT, name="矩阵终端", channel=Channel.KIOSK,
            grant_types=[clients.CLIENT_CREDENTIALS], scopes=["person:read"], now=T0,
        )  # fmt: skip
        conn.commit()
    with kit.client(app) as c:
        who = {role.value: kit.log_in_staff(c, app, dbs, role) for role in StaffRole}
        who["unit_operator"] = kit.session_of(app, "unit_operator", kit.unit_operator_subject())
        who["person"] = kit.session_of(app, "person", kit.person_subject())
        yield app, c, who


def test_each_route_opens_only_for_its_own_administrator(
    env: tuple[Any, TestClient, dict[str, kit.Who]], dbs: Databases
) -> None:
    app, c, who = env
    target = who["operator"].account_id
    assert target is not None  # an operator's account: the object of the account and role forms
    before = kit.snapshot(dbs)
    refused = 0
    for method, path, role, fields in routes(target):
        for label, caller in who.items():
            if label == role.value:
                continue
            kit.act_as(c, app, caller)
            answer = kit.post(c, path, **fields) if method == "POST" else c.get(path)
            assert answer.status_code == 403, (label, method, path, answer.status_code, answer.text[:300])
            assert "text/html" in answer.headers["content-type"] and "无权" in answer.text, (label, path)
            refused += 1
    # 16 routes, each refused to the 6 callers that do not hold its role.
    assert refused == 16 * 6
    assert kit.snapshot(dbs) == before  # nothing written by any refusal, not even an audit record

    # The pages open for their own administrator (the actions themselves: tests/portal_admin/test_pages.py).
    for method, path, role, _ in routes(target):
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
        answer = kit.act_as(c, app, caller).get("/portal/admin", follow_redirects=False)
        if label in firsts:
            assert answer.status_code == 303 and answer.headers["location"] == firsts[label], label
        else:
            assert answer.status_code == 403 and "仅供相应的管理员使用" in answer.text, label


def test_an_anonymous_visitor_goes_to_the_staff_login(dbs: Databases) -> None:
    app = kit.app_for(dbs)
    with kit.client(app) as c:
        for method, path, _, fields in routes("acc_anyone"):
            if method == "GET":
                answer = c.get(path, follow_redirects=False)
                assert answer.status_code == 303, (path, answer.text[:200])
                assert answer.headers["location"].startswith("/auth/login?kind=staff&next=%2Fportal%2Fadmin%2F")
            else:
                before = kit.snapshot(dbs)
                answer = kit.post(c, path, **fields)
                assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/login?kind=staff")
                assert kit.snapshot(dbs) == before
