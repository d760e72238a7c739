"""The unit portal in a real Chromium: a unit operator logs in (captcha and SMS code), reads the unit's
information, roster, a person's contributions and the unit's dues, and switches to large text; axe-core
finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from hub import pg
from hub.identity import admin
from tests.api.conftest import Province
from tests.browser.conftest import LiveServer, axe_violations, screenshot
from tests.identity.idkit import last_code
from tests.identity.oauthkit import PW, make_app

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def portal(province: Province) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    app, _clock = make_app(province, test_fixed_captcha="TEST")
    unit = province.units[0]
    login = f"jbr{uuid.uuid4().hex[:6]}"
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    with LiveServer(app) as live:
        rt = app.state.identity
        with pg.connect(province.hub_url) as conn:
            admin.insert_unit_operator(conn, rt.cfg, unit["unit_id"], login, "经办人", phone, PW, True, rt.clock(), "t")
            conn.commit()
        yield live, {"unit": unit, "login": login, "phone": phone}


def _log_in(page: Page, live: LiveServer, who: dict[str, Any], hub_url: str) -> None:
    page.goto(f"{live.url}/portal/unit")
    assert "/auth/login" in page.url and "kind=unit_operator" in page.url  # sent to the unit login
    page.get_by_label("单位编号或统一社会信用代码").fill(str(who["unit"]["unit_id"]))
    page.get_by_label("经办人用户名").fill(who["login"])
    page.get_by_label("密码", exact=True).fill(PW)
    page.get_by_label("图形验证码").fill("TEST")
    page.get_by_role("button", name="下一步").click()
    page.wait_for_selector("input[name=code]")
    with pg.connect(hub_url) as conn:
        code = last_code(conn, who["phone"])
    page.locator("input[name=code]").fill(code)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{live.url}/portal/unit")


def test_unit_operator_reads_the_unit_pages(
    page: Page, portal: tuple[LiveServer, dict[str, Any]], province: Province
) -> None:
    live, who = portal
    _log_in(page, live, who, province.hub_url)
    assert page.locator("h1").inner_text() == "单位基本信息"
    assert page.get_by_text(str(who["unit"]["unit_id"]), exact=True).count() >= 1
    assert axe_violations(page) == []
    screenshot(page, "unit-home")

    page.get_by_role("link", name="在职人员名册").click()
    page.wait_for_url("**/portal/unit/roster")
    rows = page.locator("table tbody tr")
    assert rows.count() == min(50, len(who["unit"]["persons"]))
    assert axe_violations(page) == []
    screenshot(page, "unit-roster")

    page.locator("table tbody tr").first.get_by_role("link").click()
    page.wait_for_url("**/contributions")
    assert page.locator("h1").inner_text() == "人员缴费明细"
    assert page.locator("table tbody tr").count() >= 1
    assert axe_violations(page) == []
    screenshot(page, "unit-person-contributions")

    page.get_by_role("link", name="单位缴费与欠费").click()
    page.wait_for_url("**/portal/unit/contributions")
    assert page.locator("table tbody tr").count() >= 1
    assert axe_violations(page) == []
    screenshot(page, "unit-contributions")

    page.get_by_role("button", name="大字体").click()
    page.wait_for_url("**/portal/unit/contributions")
    assert page.locator("html").get_attribute("class") == "large"
    assert axe_violations(page) == []
    screenshot(page, "unit-contributions-large")
    page.get_by_role("button", name="标准字体").click()
    page.wait_for_url("**/portal/unit/contributions")
    assert page.locator("html").get_attribute("class") == ""


def test_other_callers_are_refused(page: Page, portal: tuple[LiveServer, dict[str, Any]]) -> None:
    live, _ = portal
    response = page.request.get(f"{live.url}/portal/unit/roster", max_redirects=0)
    assert response.status == 303
    assert response.headers["location"].startswith("/auth/login?kind=unit_operator&next=%2Fportal%2Funit%2Froster")
    forged = page.request.post(f"{live.url}/portal/ui/text-size", form={"size": "large", "next": "/"}, max_redirects=0)
    assert forged.status == 403  # no CSRF token
