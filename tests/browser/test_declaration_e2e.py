"""The annual wage declaration from end to end in a real Chromium, on a province of its own.

A unit operator logs in with the SMS code from the outbox, downloads the template, uploads a file with
errors and sees them per row, fixes and submits it; a reviewer logs in to the workbench, finds it in the
queue, opens the detail (what changes against the record), claims and approves it; the outbox worker
sends the command to the core's command API (a real process), the core plans the year, a sync round
carries the change into the query store, and the unit sees the new bases in 人员缴费明细 and 单位缴费与欠费
while the declaration shows 已办结. axe-core finds no serious or critical violation on the workbench
pages; every main page is saved as a screenshot.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page

from hub import pg
from hub.access.subject import StaffRole
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker, wait_idle
from hub.identity import accounts
from sync.worker import SyncWorker
from tests.api.conftest import Province
from tests.browser.conftest import LiveServer, axe_violations, screenshot
from tests.declarations.kit import core_api
from tests.fixtures.servers import Servers
from tests.identity.idkit import last_code
from tests.identity.oauthkit import PW, make_app
from tests.portal_staff import kit

pytestmark = pytest.mark.xdist_group("browser")

YEAR = 2026  # the contribution year declared (the 2025 wages); the seeded province has no 2026 months yet
WAGE_COLUMN = 5  # E: 申报月平均工资（元）


@pytest.fixture
def e2e_province(servers: Servers) -> Iterator[Province]:
    with kit.own_province(servers, persons=30) as province:
        yield province


def _context(browser: Browser) -> BrowserContext:
    return browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, bypass_csp=True)


def _unit_log_in(page: Page, live: LiveServer, unit_id: int, who: dict[str, str], hub_url: str) -> None:
    page.goto(f"{live.url}/portal/unit")
    assert "/auth/login" in page.url and "kind=unit_operator" in page.url
    page.get_by_label("单位编号或统一社会信用代码").fill(str(unit_id))
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


def _staff_log_in(page: Page, live: LiveServer, who: dict[str, str], hub_url: str, path: str) -> None:
    page.goto(f"{live.url}{path}")
    assert "/auth/login" in page.url and "kind=staff" in page.url  # sent to the staff login and back
    page.get_by_label("工号").fill(who["login"])
    page.get_by_label("密码", exact=True).fill(PW)
    page.get_by_role("button", name="下一步").click()
    page.wait_for_selector("input[name=code]")
    with pg.connect(hub_url) as conn:
        code = last_code(conn, who["phone"])
    page.locator("input[name=code]").fill(code)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{live.url}{path}")


def _upload(page: Page, data: bytes) -> None:
    form = page.locator("form[action='/portal/unit/wages/upload']")
    form.locator("select[name=year]").select_option(str(YEAR))
    payload: FilePayload = {"name": "wages.xlsx", "mimeType": "application/octet-stream", "buffer": data}
    form.locator("input[name=file]").set_input_files(files=[payload])
    form.get_by_role("button", name="上传并校验").click()
    page.wait_for_load_state()


def _bytes(wb: Any) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _no_serious(page: Page) -> None:
    found = axe_violations(page)
    assert found == [], found


def test_declaration_from_upload_to_the_unit_pages(browser: Browser, e2e_province: Province) -> None:
    province = e2e_province
    unit = province.units[0]
    unit_id, region = int(unit["unit_id"]), str(unit["region_code"])
    app, _clock = make_app(province, test_fixed_captcha="TEST")
    unit_ctx, staff_ctx, admin_ctx = _context(browser), _context(browser), _context(browser)
    with LiveServer(app) as live, core_api(province.core_url) as api:
        operator = kit.add_unit_operator(app, province.hub_url, unit_id)
        reviewer = kit.add_staff(app, province.hub_url, StaffRole.REVIEWER, (region,), "审核员甲")
        with pg.connect(province.hub_url) as conn:  # the same person also keeps the calendar (经办人员)
            accounts.add_role(conn, reviewer["account_id"], StaffRole.OPERATOR, "test", app.state.identity.clock())
            conn.commit()
        sysadmin = kit.add_staff(app, province.hub_url, StaffRole.SYSTEM_ADMIN, (region,), "系统管理员")

        # -- the unit operator: template, a faulty file, the fixed file, the preview, submit ------------
        page = unit_ctx.new_page()
        _unit_log_in(page, live, unit_id, operator, province.hub_url)
        page.get_by_role("link", name="年度缴费工资申报").click()
        page.wait_for_url("**/portal/unit/wages")
        page.locator("form[action='/portal/unit/wages/template.xlsx'] select[name=year]").select_option(str(YEAR))
        with page.expect_download() as download:
            page.get_by_role("button", name="下载申报模板").click()
        wb = load_workbook(io.BytesIO(download.value.path().read_bytes()))
        ws: Any = wb.active
        rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 3).value]
        assert len(rows) >= 3, "the template lists the unit's staff"
        wages = {r: Decimal(9000 + 100 * i) for i, r in enumerate(rows)}
        for r, wage in wages.items():
            ws.cell(r, WAGE_COLUMN).value = wage
        ws.cell(rows[0], WAGE_COLUMN).value = -5
        ws.cell(rows[1], WAGE_COLUMN).value = "9100.123"
        _upload(page, _bytes(wb))
        alert = page.get_by_role("alert")
        assert "未保存任何内容" in alert.inner_text()
        errors = page.locator("[role=alert] ul li").all_inner_texts()
        assert any(f"第{rows[0]}行" in e for e in errors) and any(f"第{rows[1]}行" in e for e in errors), errors
        screenshot(page, "e2e-unit-upload-errors")

        for r, wage in wages.items():
            ws.cell(r, WAGE_COLUMN).value = wage
        _upload(page, _bytes(wb))
        assert page.get_by_role("heading", name=re.compile("预览")).count() == 1
        # the first person's line of the preview: 个人编号 and 核定基数 (the base after the clamp)
        first_line = page.locator("table tbody tr").first.locator("td").all_inner_texts()
        person_id, base_shown = int(first_line[1]), first_line[4]
        screenshot(page, "e2e-unit-preview")
        page.get_by_role("button", name="确认无误，提交申报").click()
        page.wait_for_url(re.compile(r".*/portal/unit/declarations/\d+$"))
        declaration_id = int(page.url.rsplit("/", 1)[1])
        facts = page.locator("dl.facts").inner_text()
        assert "已提交" in facts
        reference = re.search(r"SB\d{16}", facts)
        assert reference
        screenshot(page, "e2e-unit-submitted")
        # Nothing of 2026 is in the person's record yet.
        page.goto(f"{live.url}/portal/unit/persons/{person_id}/contributions?year={YEAR}")
        assert page.get_by_text("没有缴费记录。").count() == 1

        # -- the reviewer: queue, detail, claim, approve ---------------------------------------------
        staff = staff_ctx.new_page()
        _staff_log_in(staff, live, reviewer, province.hub_url, "/portal/staff")
        assert staff.locator("h1").inner_text() == "审核队列"
        row = staff.locator("table tbody tr", has_text=reference.group(0))
        assert row.count() == 1 and "待认领" in row.inner_text()
        _no_serious(staff)
        screenshot(staff, "e2e-staff-queue")
        row.get_by_role("link", name=reference.group(0)).click()
        staff.wait_for_url(f"**/portal/staff/declarations/{declaration_id}")
        changes = staff.locator("table", has_text="与现有记录相比的变化")
        assert changes.locator("tbody tr").count() == len(rows)
        declared = f"{wages[rows[0]]:.2f}"
        assert changes.locator("tbody tr", has_text=f"个人编号{person_id}").locator("strong").inner_text() == declared
        _no_serious(staff)
        screenshot(staff, "e2e-staff-detail")
        staff.get_by_role("button", name="认领").click()
        staff.wait_for_url(f"**/portal/staff/declarations/{declaration_id}?msg=claimed")
        _no_serious(staff)
        screenshot(staff, "e2e-staff-detail-claimed")
        staff.get_by_role("button", name="审核通过").click()
        staff.wait_for_url("**/portal/staff?msg=approved")
        assert staff.locator("table tbody tr", has_text=reference.group(0)).count() == 0
        staff.get_by_role("link", name="办件统计").click()
        staff.wait_for_url("**/portal/staff/statistics")
        _no_serious(staff)
        screenshot(staff, "e2e-staff-statistics")
        staff.get_by_role("link", name="工作日历").click()
        staff.wait_for_url("**/portal/staff/calendar")
        _no_serious(staff)
        screenshot(staff, "e2e-staff-calendar")

        admin_page = admin_ctx.new_page()
        _staff_log_in(admin_page, live, sysadmin, province.hub_url, "/portal/staff/deadlines")
        assert admin_page.locator("table tbody tr", has_text="年度缴费工资申报").count() >= 1
        _no_serious(admin_page)
        screenshot(admin_page, "e2e-staff-deadlines")

        # -- the write path: outbox → core API (a real process) → change feed → sync → query store ----
        worker = OutboxWorker(province.hub_url, province.query_url, DeclarationSettings(core_api_url=api.url))
        try:
            wait_idle(worker, timeout=60)
        finally:
            worker.close()
        sync = SyncWorker(province.core_url, province.query_url, batch_size=2000)
        try:
            assert sync.drain() > 0
        finally:
            sync.close()

        # -- the unit sees the result ----------------------------------------------------------------
        page.goto(f"{live.url}/portal/unit/declarations/{declaration_id}")
        assert "已办结" in page.locator("dl.facts").inner_text()
        history = page.locator("table", has_text="办理记录").inner_text()
        assert "审核通过" in history and "核心系统办结" in history
        screenshot(page, "e2e-unit-applied")
        page.goto(f"{live.url}/portal/unit/persons/{person_id}/contributions?year={YEAR}")
        months = page.locator("table tbody tr", has_text="机关事业单位养老保险")
        assert months.count() >= 1
        bases = {cells[2] for cells in (m.locator("td").all_inner_texts() for m in months.all())}
        assert bases == {base_shown}, bases  # every 2026 month at the base the preview showed
        screenshot(page, "e2e-unit-person-contributions")
        page.goto(f"{live.url}/portal/unit/contributions?year={YEAR}")
        assert page.locator("table tbody tr", has_text=f"{YEAR}年").count() >= 1
        screenshot(page, "e2e-unit-contributions")
    for ctx in (unit_ctx, staff_ctx, admin_ctx):
        ctx.close()
