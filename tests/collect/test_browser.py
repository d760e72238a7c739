"""The offline version's form in a real Chromium (the browser tests' Playwright set-up): filled and sent
with the keyboard, refused lines named in the page, saved, the large-text mode, and axe-core finding no
serious or critical violation on any of these pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page

from hub.collect import rows
from hub.collect.local import LocalStore
from hub.collect.upload import XLSX_TYPE
from portal_web.collect import local_app
from tests.browser.conftest import LiveServer, axe_violations, browser, page, screenshot
from tests.collect.conftest import collection, collection_rows, workbook

__all__ = ["browser", "page"]
pytestmark = pytest.mark.xdist_group("browser")


def test_offline_form_with_the_keyboard(page: Page, tmp_path: Path) -> None:
    db = tmp_path / "unit.sqlite"
    payload = collection()
    unit = payload["unit"]
    store = LocalStore(db)
    store.unlock("browser-test-passphrase")
    with LiveServer(local_app(store)) as live:
        page.goto(f"{live.url}/")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert axe_violations(page) == []
        screenshot(page, "collect-offline-form")
        page.get_by_label("统一社会信用代码").fill(unit["uscc"])
        page.get_by_label("单位名称").fill(unit["name"])
        page.get_by_label("单位类型").select_option("51")
        page.get_by_label("财政供款方式").select_option(unit["funding"])
        page.locator("#f-region_code").fill(unit["region_code"])
        page.get_by_label("单位地址").fill(unit["address"])
        page.get_by_label("联系人", exact=True).fill(unit["contact_name"])
        page.get_by_label("联系人手机号码").fill(unit["contact_phone"])
        page.locator("#f-staff").fill(rows.text_of(payload["staff"], rows.STAFF_COLUMNS) + "\n1,2")
        page.locator("#f-retirees").fill(rows.text_of(payload["retirees"], rows.RETIREE_COLUMNS))
        page.get_by_role("button", name="检查并预览").focus()
        page.keyboard.press("Enter")
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "在职人员第3行应有6至8项，实有2项" in alert.inner_text()
        assert axe_violations(page) == []
        assert LocalStore(db).load() is None
        page.locator("#f-staff").fill(rows.text_of(payload["staff"], rows.STAFF_COLUMNS))
        page.get_by_role("button", name="检查并预览").focus()
        page.keyboard.press("Enter")
        page.get_by_text("已通过检查并保存").wait_for()
        assert "陈一" in page.locator("main").inner_text()
        assert axe_violations(page) == []
        screenshot(page, "collect-offline-saved")
        page.get_by_role("button", name="大字体").click()
        page.wait_for_selector("html.large")
        assert axe_violations(page) == []
        # The lists from a spreadsheet instead: a wrong ID number is named by sheet, row and column.
        page.goto(f"{live.url}/")
        staff, retirees = collection_rows(payload)
        staff[1][0] = staff[1][0][:-1] + ("0" if staff[1][0][-1] != "0" else "1")
        page.get_by_label("名单文件（.xlsx、.xls 或 .ods）").set_input_files(
            files=[FilePayload(name="名单.xlsx", mimeType=XLSX_TYPE, buffer=workbook(staff, retirees))]
        )
        page.get_by_role("button", name="检查并预览").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "工作表“在职人员”第3行A列（公民身份号码）：公民身份号码校验位不正确" in alert.inner_text()
        assert axe_violations(page) == []
    saved = LocalStore(db).load()
    assert saved is not None and saved["unit"]["unit_type"] == "51" and len(saved["staff"]) == 2
