"""The unit administration tests: the seeded province of the API tests, a gateway app whose SMS codes
are fixed (the login's second factor) and the unit-operator login walked through the real pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.identity import admin
from tests.api.conftest import Province, province
from tests.identity.idkit import MovableClock
from tests.identity.oauthkit import PW, make_app

__all__ = ["province"]

CODE = "246810"


def hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def csrf(client: TestClient, path: str = "/portal/unit") -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return {k: v for k, v in hidden(page.text).items() if k == "csrf_token"}


def new_phone() -> str:
    return f"135{uuid.uuid4().int % 10**8:08d}"


@dataclass
class Portal:
    app: Any
    client: TestClient
    clock: MovableClock
    province: Province
    current_login: str = ""

    def add_operator(self, unit_id: int, *, unit_admin: bool) -> str:
        """An operator account of ``unit_id`` created directly (as the system administrator would)."""
        rt = self.app.state.identity
        login = f"op{uuid.uuid4().hex[:6]}"
        with pg.connect(self.province.hub_url) as conn:
            admin.insert_unit_operator(
                conn, rt.cfg, unit_id, login, "经办人", new_phone(), PW, unit_admin, rt.clock(), "t"
            )
            conn.commit()
        return login

    def login(self, unit_id: int, login: str, password: str = PW, lands: str = "/portal/unit") -> None:
        """Walk the unit login (password, captcha, SMS code) as in tests/portal_unit/test_unit_wages.py;
        ``lands``: where the login sends the browser (the change page for an administrator-issued password)."""
        self.client.cookies.clear()
        self.current_login = login
        form = self.client.get("/auth/login?kind=unit_operator")
        started = self.client.post(
            "/auth/login",
            data={**hidden(form.text), "kind": "unit_operator", "unit_code": str(unit_id), "login": login,
                  "password": password, "captcha": "TEST", "next": "/portal/unit"},
        )  # fmt: skip
        assert started.status_code == 200, started.text
        done = self.client.post(
            "/auth/login/verify", data={**hidden(started.text), "code": CODE, "next": "/portal/unit"},
            follow_redirects=False,
        )  # fmt: skip
        assert done.status_code == 303 and done.headers["location"] == lands, done.text


@pytest.fixture
def portal(province: Province) -> Iterator[Portal]:
    app, clock = make_app(province, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)
    with TestClient(app) as client:
        yield Portal(app, client, clock, province)


@pytest.fixture
def unit_admin(portal: Portal) -> tuple[Portal, dict[str, Any]]:
    """Logged in as a fresh administrator of the first seeded unit."""
    unit = portal.province.units[0]
    portal.login(unit["unit_id"], portal.add_operator(unit["unit_id"], unit_admin=True))
    return portal, unit
