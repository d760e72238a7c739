"""The personal portal in a real Chromium: a person logs in through the login pages (password and SMS
code), reads their information, contributions and accounts, downloads the 参保证明 and verifies its code
on /verify, runs the pension estimator (bad input first), and switches to the large-text mode; axe-core
finds no serious or critical violation on any of these pages. The name carries a CJK Ext-B character."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from pypdf import PdfReader

from hub import pg
from tests.api.conftest import Province
from tests.browser.conftest import LiveServer, axe_violations, screenshot
from tests.identity.idkit import last_code
from tests.identity.oauthkit import make_app
from tests.portal.kit import PERSON_PW, Person, has_rare_character, person_account, working_persons

pytestmark = pytest.mark.xdist_group("browser")

# Draws a string on a canvas in the page's own font stack and returns the pixels as text, so a real
# glyph can be told from the "missing glyph" box Chromium draws for a character no font covers.
GLYPH = """([text, probe]) => {
  const font = getComputedStyle(document.body).fontFamily;
  const draw = (s) => {
    const c = document.createElement("canvas"); c.width = 64; c.height = 64;
    const g = c.getContext("2d"); g.font = "40px " + font; g.fillText(s, 4, 48);
    return Array.from(g.getImageData(0, 0, 64, 64).data).join(",");
  };
  return [draw(text), draw(probe), draw("")];
}"""


@pytest.fixture
def portal(province: Province) -> Iterator[tuple[LiveServer, Person]]:
    app, _clock = make_app(province)
    with LiveServer(app) as live:
        person = person_account(province, app.state.identity.cfg, working_persons(province)[0])
        yield live, person


def _log_in(page: Page, live: LiveServer, person: Person, hub_url: str) -> None:
    page.goto(f"{live.url}/portal/me")
    assert "/auth/login" in page.url and "kind=person" in page.url  # sent to the personal login
    page.get_by_label("证件类型").select_option(person.document_type)
    page.get_by_label("证件号码").fill(person.document_number)
    page.get_by_label("密码", exact=True).fill(PERSON_PW)
    page.get_by_role("button", name="下一步").click()
    page.wait_for_selector("input[name=code]")
    with pg.connect(hub_url) as conn:
        code = last_code(conn, person.phone)
    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="确定").click()
    page.wait_for_url(f"{live.url}/portal/me")


def _checked(page: Page, name: str) -> None:
    assert axe_violations(page) == [], name
    screenshot(page, name)


def test_person_uses_the_portal(page: Page, portal: tuple[LiveServer, Person], province: Province) -> None:
    live, person = portal
    _log_in(page, live, person, province.hub_url)
    assert page.locator("h1").inner_text() == "个人基本信息"
    name = page.locator("dd.name").inner_text()
    assert name == person.name and has_rare_character(name)  # e.g. 吉𠮷: outside the BMP, intact
    shown, tofu, blank = page.evaluate(GLYPH, [next(ch for ch in name if ord(ch) > 0xFFFF), "\U0002fffd"])
    assert shown not in (blank, tofu)  # a real glyph: neither nothing nor the missing-glyph box
    assert person.document_number not in page.content()  # masked on screen
    _checked(page, "person-home")

    page.get_by_role("link", name="缴费信息").click()
    page.wait_for_url("**/portal/me/contributions")
    rows = page.locator("table tbody tr")
    assert rows.count() >= 1
    year = page.locator("select[name=year] option").nth(1).get_attribute("value")
    page.get_by_label("年度").select_option(year)
    page.get_by_label("险种").select_option("120")
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(f"**/portal/me/contributions?year={year}&insurance=120")
    cells = page.locator("table tbody tr td:first-child").all_inner_texts()
    assert cells and all(c.startswith(f"{year}年") for c in cells)
    assert set(page.locator("table tbody tr td:nth-child(2)").all_inner_texts()) == {"机关事业单位养老保险"}
    _checked(page, "person-contributions")

    page.get_by_role("link", name="个人账户").click()
    page.wait_for_url("**/portal/me/accounts")
    captions = page.locator("table caption").all_inner_texts()
    assert captions == ["基本养老保险个人账户（单位：元）", "职业年金个人账户（单位：元）"]
    assert page.locator("table").first.locator("tbody tr").count() >= 1
    _checked(page, "person-accounts")

    for link, path, heading, shot in (
        ("参保信息", "insurance", "参保信息", "person-insurance"),
        ("待遇信息", "benefit", "待遇信息", "person-benefit"),
        ("权益记录", "statement", "个人权益记录", "person-statement"),
    ):
        page.get_by_role("link", name=link, exact=True).click()
        page.wait_for_url(f"**/portal/me/{path}")
        assert page.locator("h1").inner_text() == heading
        _checked(page, shot)
    assert page.get_by_role("button", name=re.compile(r"下载\d{4}年度权益记录单（PDF）")).is_visible()

    page.get_by_role("link", name="参保证明").click()
    page.wait_for_url("**/portal/me/certificate")
    _checked(page, "person-certificate")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="下载个人参保证明（PDF）").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".pdf")
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert person.name in text  # the rare character embedded and extractable
    code = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text)
    assert code, "no verification code in the PDF"
    page.goto(f"{live.url}/verify")
    page.locator("input[name=code]").fill(code.group(0))
    page.locator("form button[type=submit]").click()
    page.wait_for_load_state()
    assert "验证通过" in page.content()
    screenshot(page, "person-certificate-verified")

    page.goto(f"{live.url}/portal/me/estimate")
    assert page.locator("h1").inner_text() == "养老金测算"
    _checked(page, "person-estimate-form")
    page.get_by_label("工资年增长率（%）").fill("百分之三")
    page.get_by_role("button", name="开始测算").click()
    page.wait_for_load_state()
    assert page.get_by_text("工资年增长率应为数字，例如 3 或 2.5").is_visible()
    assert page.get_by_label("工资年增长率（%）").get_attribute("aria-invalid") == "true"
    _checked(page, "person-estimate-error")
    page.get_by_label("工资年增长率（%）").fill("3")
    page.get_by_label("退休年龄（岁）").fill("62")
    page.get_by_label("又几个月").fill("6")
    page.get_by_role("button", name="开始测算").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="测算结果").is_visible()
    assert "按 62岁6个月 退休" in page.locator("p.total").inner_text()
    assert page.locator("section table").first.locator("tbody tr").count() == 7  # six items and the total
    _checked(page, "person-estimate-result")

    page.get_by_role("button", name="大字体").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("class") == "large"
    assert "/portal/me/estimate" in page.url
    _checked(page, "person-estimate-large")
    page.get_by_role("link", name="个人基本信息").click()
    page.wait_for_url("**/portal/me")
    assert page.locator("html").get_attribute("class") == "large"  # the mode stays on every page
    _checked(page, "person-home-large")
    page.get_by_role("button", name="标准字体").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("class") == ""
