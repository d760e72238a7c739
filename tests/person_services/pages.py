"""The gateway app over the seeded province, one test client, and logins walked through the real pages
(switching who is logged in by clearing the cookies and logging in again)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from hub.access.subject import StaffRole
from tests.api.conftest import Province
from tests.identity.oauthkit import make_app
from tests.portal import kit as person_kit
from tests.portal_staff import kit as staff_kit


def app_for(province: Province) -> Any:
    app, _ = make_app(province, test_fixed_captcha="TEST", test_fixed_sms_code=staff_kit.CODE)
    return app


Jar = dict[str, str]


def use(client: TestClient, jar: Jar) -> None:
    """Act as the visitor whose cookies ``jar`` holds."""
    client.cookies.clear()
    for name, value in jar.items():
        client.cookies.set(name, value)


def as_person(client: TestClient, province: Province, person_id: int, next_url: str = "/portal/me") -> Jar:
    """Log a person in (a second login of the same phone would wait for the SMS cooldown: keep the jar)."""
    client.cookies.clear()
    me = person_kit.person_account(province, client.app.state.identity.cfg, person_id)  # type: ignore[attr-defined]
    person_kit.log_in(client, province, me, next_url)
    return dict(client.cookies.items())


def new_staff(client: TestClient, province: Province, region_code: str) -> str:
    who = staff_kit.add_staff(client.app, province.hub_url, StaffRole.OPERATOR, (region_code,), "经办员")
    return who["login"]


def as_staff(client: TestClient, login: str, next_url: str) -> None:
    client.cookies.clear()
    staff_kit.log_in(client, "staff", login, next_url)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)
