"""The login pages in a real Chromium: a reviewer logs in with password and the SMS code, axe finds no
serious or critical violation, and a wrong password gets a Chinese error in the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from hub import pg
from tests.browser.conftest import LiveServer, axe_violations, screenshot
from tests.conftest import Databases
from tests.identity.idkit import last_code
from tests.identity.oauthkit import PW, STAFF_PHONE, make_app, seed_clients_and_staff

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def server(dbs: Databases) -> Iterator[LiveServer]:
    app, _clock = make_app(dbs)
    with LiveServer(app) as live:
        seed_clients_and_staff(dbs, app.state.identity)
        yield live


def _login_form(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/auth/login?kind=staff")
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_staff_login_in_a_real_browser(page: Page, server: LiveServer, dbs: Databases) -> None:
    _login_form(page, server)
    assert axe_violations(page) == []
    screenshot(page, "login-staff")
    page.get_by_label("工号", exact=True).fill("reviewer01")
    page.get_by_label("密码", exact=True).fill(PW)
    page.get_by_role("button", name="下一步").click()
    page.wait_for_selector("input[name=code]")
    assert axe_violations(page) == []
    screenshot(page, "login-code")
    with pg.connect(dbs.hub_url) as conn:
        code = last_code(conn, STAFF_PHONE)
    page.locator("input[name=code]").fill(code)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{server.url}/auth/account**")
    body: Any = page.locator("body").inner_text()
    assert "已登录" in body
    assert axe_violations(page) == []
    screenshot(page, "account")


def test_wrong_password_shows_a_chinese_error(page: Page, server: LiveServer) -> None:
    _login_form(page, server)
    page.get_by_label("工号", exact=True).fill("reviewer01")
    page.get_by_label("密码", exact=True).fill("Wrong-password-1")
    page.get_by_role("button", name="下一步").click()
    error = page.get_by_role("alert")
    error.wait_for()
    assert "用户名或密码" in error.inner_text() or "密码" in error.inner_text()
    assert page.locator("input[name=code]").count() == 0
