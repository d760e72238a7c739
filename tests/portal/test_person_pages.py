"""The personal portal over HTTP (the real login pages, the real app): only the person's own records,
certificates as signed PDFs that verify, the estimator with the region's parameters from the store."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import cast

from pypdf import PdfReader

from hub import pg
from hub.certificates import codes
from tests.api.conftest import Province
from tests.identity.idkit import last_code
from tests.identity.oauthkit import PW, hidden
from tests.portal.conftest import Portal
from tests.portal.kit import csrf_field, log_in, person_account, retired_persons, working_persons

PAGES = (
    "/portal/me",
    "/portal/me/insurance",
    "/portal/me/contributions",
    "/portal/me/accounts",
    "/portal/me/benefit",
    "/portal/me/certificate",
    "/portal/me/statement",
    "/portal/me/estimate",
)


def _person_row(province: Province, person_id: int) -> tuple[str, str]:
    row = province.persons.get(person_id)  # ID numbers decrypted by the fixture
    assert row is not None
    return str(row["name"]), str(row["id_number"])


def test_without_a_session_every_page_sends_to_the_personal_login(portal: Portal) -> None:
    for path in PAGES:
        response = portal.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/auth/login?kind=person&next=%2Fportal%2Fme"), path


def test_a_person_sees_only_their_own_records(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    my_name, my_id = _person_row(province, portal.me.person_id)
    other_name, other_id = _person_row(province, portal.other.person_id)
    for path in PAGES:
        page = portal.client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert my_name in page.text, path  # the header names the person, rare characters intact
        assert other_name not in page.text and other_id not in page.text, path
        assert str(portal.other.person_id) not in page.text, path
        assert my_id not in page.text, path  # the ID number is masked on screen
    home = portal.client.get("/portal/me").text
    assert f"{my_id[:3]}***********{my_id[-4:]}" in home  # DOMAIN.md §6.2 mask of the portal channel
    # Nothing in the address selects another person: query parameters naming one are ignored.
    sneaky = portal.client.get("/portal/me/contributions", params={"person_id": portal.other.person_id})
    assert sneaky.status_code == 200 and other_name not in sneaky.text and my_name in sneaky.text


def test_contributions_month_by_month_with_filters_and_arrears(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    with pg.connect(province.query_url) as conn:
        newest = conn.execute(
            "select period / 100, count(*) from contribution_month where person_id = %s and insurance = '116' "
            "group by 1 order by 1 desc limit 1",
            (portal.me.person_id,),
        ).fetchone()
        assert newest is not None
        year, count = cast(tuple[int, int], newest)  # period is an integer, count(*) a bigint
        found = conn.execute(
            "select count(*) from contribution_month where person_id = %s and insurance = '116' and period / 100 = %s "
            "and not real_account",
            (portal.me.person_id, year),
        ).fetchone()
        assert found is not None
        virtual = cast(int, found[0])
    page = portal.client.get("/portal/me/contributions", params={"year": year, "insurance": "116"})
    assert page.status_code == 200
    body = page.text.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == count  # one row per month and 险种, at most 60 a page
    assert body.count("职业年金") == count and "机关事业单位养老保险" not in body
    assert body.count("虚账") == virtual and body.count("实账") == count - virtual
    assert "没有欠缴" in page.text or "尚有欠缴" in page.text
    bad = portal.client.get("/portal/me/contributions", params={"year": "19"})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]


def test_arrears_are_stated_plainly(portal: Portal, province: Province) -> None:
    candidates = working_persons(province)
    with pg.connect(province.query_url) as conn:
        owing = conn.execute(
            "select person_id from rights_statement where person_id = any(%s) group by 1 having sum(arrears) > 0 "
            "order by 1 limit 1",
            (candidates,),
        ).fetchall()
        assert owing, "the seeded province has a person with unpaid months"
        debtor = person_account(province, portal.app.state.identity.cfg, cast(int, owing[0][0]))
        # year is an integer, sum(arrears) of a numeric column a numeric
        rows = cast(
            list[tuple[int, Decimal]],
            conn.execute(
                "select year, sum(arrears) from rights_statement where person_id = %s group by 1",
                (debtor.person_id,),
            ).fetchall(),
        )
        # the first page: the 60 newest rows, as the page orders them
        found = conn.execute(
            "select count(*) filter (where not paid) from (select paid from contribution_month where person_id = %s "
            "order by period desc, detail_id asc limit 60) t",
            (debtor.person_id,),
        ).fetchone()
        assert found is not None
        unpaid = cast(int, found[0])
    log_in(portal.client, province, debtor)
    for year, arrears in rows:
        page = portal.client.get("/portal/me/contributions", params={"year": year}).text
        if Decimal(arrears) > 0:
            assert f"{year}年尚有欠缴 {Decimal(arrears):,.2f} 元" in page
        else:
            assert "所选范围内的应缴费用均已到账，没有欠缴。" in page
    everything = portal.client.get("/portal/me/contributions").text
    total = sum((Decimal(a) for _, a in rows), Decimal(0))
    assert f"全部年度尚有欠缴 {total:,.2f} 元" in everything
    assert unpaid > 0 and everything.count('<span class="bad">欠缴，未到账</span>') == unpaid


def test_accounts_year_by_year(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    with pg.connect(province.query_url) as conn:
        rows = cast(
            list[tuple[str, int, Decimal, Decimal]],  # text, integer and two numeric columns
            conn.execute(
                "select account, year, closing, interest from account_year where person_id = %s",
                (portal.me.person_id,),
            ).fetchall(),
        )
    page = portal.client.get("/portal/me/accounts").text
    for _account, year, closing, interest in rows:
        assert f"{year}年" in page and f"{Decimal(closing):,.2f}" in page and f"{Decimal(interest):,.2f}" in page


def test_certificate_pdf_is_signed_recorded_and_verifies(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    form = portal.client.get("/portal/me/certificate")
    refused = portal.client.post("/portal/me/certificate.pdf", data={})
    assert refused.status_code == 403  # no CSRF token: nothing issued
    response = portal.client.post("/portal/me/certificate.pdf", data={"csrf_token": csrf_field(form.text)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "no-store" in response.headers["cache-control"]
    assert response.content.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    my_name, _ = _person_row(province, portal.me.person_id)
    assert my_name in text
    found = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text)
    assert found, "no verification code printed"
    assert codes.normalize(found.group(0)) is not None
    verified = portal.client.post("/verify", data={"code": found.group(0)})
    assert verified.status_code == 200 and "验证通过" in verified.text
    assert my_name[0] in verified.text  # masked name: the surname shows


def test_rights_statement_page_and_pdf(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    with pg.connect(province.query_url) as conn:
        first = conn.execute(
            "select year, person_amount from rights_statement where person_id = %s and insurance = '120' "
            "order by year limit 1",
            (portal.me.person_id,),
        ).fetchone()
    assert first is not None
    year, person_amount = cast(tuple[int, Decimal], first)  # an integer and a numeric column
    page = portal.client.get("/portal/me/statement", params={"year": year})
    assert page.status_code == 200 and f"{year}年度个人权益记录" in page.text
    assert f"{Decimal(person_amount):,.2f}" in page.text
    pdf = portal.client.post("/portal/me/statement.pdf", data={"csrf_token": csrf_field(page.text), "year": year})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "no-store" in pdf.headers["cache-control"] and pdf.content.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"{Decimal(person_amount):,.2f}" in text
    missing = portal.client.post("/portal/me/statement.pdf", data={"csrf_token": csrf_field(page.text), "year": 1995})
    assert missing.status_code == 404 and "1995年度" in missing.text


def test_estimator_form_errors_are_inline_and_in_chinese(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    page = portal.client.get("/portal/me/estimate")
    assert page.status_code == 200 and "测算依据" in page.text and 'id="result-title"' not in page.text
    cases = {
        ("abc", "0", "3", ""): "退休年龄（岁）应为整数",
        ("40", "0", "3", ""): "退休年龄应在",
        ("60", "12", "3", ""): "月数应在0到11之间",
        ("60", "0", "七", ""): "工资年增长率应为数字",
        ("60", "0", "80", ""): "工资年增长率应在 -50% 到 50% 之间",
        ("60", "0", "3", "30"): "记账利率应在 -20% 到 20% 之间",
        ("", "0", "3", ""): "请填写退休年龄（岁）",
    }
    for (years, months, growth, interest), message in cases.items():
        bad = portal.client.get(
            "/portal/me/estimate",
            params={"age_years": years, "age_months": months, "wage_growth": growth, "interest": interest},
        )
        assert bad.status_code == 422, (years, months, growth, interest)
        assert message in bad.text and 'aria-invalid="true"' in bad.text and 'id="result-title"' not in bad.text


def test_operator_session_is_refused_on_the_personal_pages(portal: Portal, province: Province) -> None:
    client, who = portal.client, portal.operator
    form = client.get("/auth/login", params={"kind": "unit_operator"})
    page = client.post(
        "/auth/login",
        data={
            "csrf_token": hidden(form.text, "csrf_token"),
            "kind": "unit_operator",
            "unit_code": str(who["unit"]["unit_id"]),  # type: ignore[index]
            "login": who["login"],
            "password": PW,
            "captcha_id": hidden(form.text, "captcha_id"),
            "captcha": "TEST",
        },
    )
    assert page.status_code == 200 and 'name="ticket"' in page.text, page.text
    with pg.connect(province.hub_url) as conn:
        code = last_code(conn, str(who["phone"]))
    done = client.post(
        "/auth/login/verify",
        data={"csrf_token": hidden(page.text, "csrf_token"), "ticket": hidden(page.text, "ticket"), "code": code},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get("/portal/unit").status_code == 200  # the session works where it belongs
    my_name, _ = _person_row(province, portal.me.person_id)
    for path in PAGES:
        refused = client.get(path, follow_redirects=False)
        assert refused.status_code == 404, path  # the same answer as a missing record
        assert "此页面仅供参保人本人使用" in refused.text and my_name not in refused.text
    pdf = client.post("/portal/me/certificate.pdf", data={"csrf_token": csrf_field(client.get("/portal/unit").text)})
    assert pdf.status_code == 404 and pdf.headers["content-type"].startswith("text/html")


def test_a_retiree_sees_the_benefit_and_its_payments(portal: Portal, province: Province) -> None:
    retirees = retired_persons(province)
    assert retirees, "the seeded province has retirees with payments"
    retiree = person_account(province, portal.app.state.identity.cfg, retirees[0])
    log_in(portal.client, province, retiree)
    with pg.connect(province.query_url) as conn:
        benefit = conn.execute(
            "select monthly_total, monthly_paid from benefit where person_id = %s", (retiree.person_id,)
        ).fetchone()
        assert benefit is not None
        total, paid = cast(tuple[Decimal, Decimal], benefit)  # two numeric columns
        items = cast(
            list[tuple[str, Decimal]],  # a text and a numeric column
            conn.execute("select item, amount from benefit_item where person_id = %s", (retiree.person_id,)).fetchall(),
        )
        payments = cast(
            list[tuple[int, Decimal]],  # an integer and a numeric column
            conn.execute(
                "select period, amount from benefit_payment where person_id = %s order by period desc",
                (retiree.person_id,),
            ).fetchall(),
        )
    page = portal.client.get("/portal/me/benefit")
    assert page.status_code == 200
    assert f"<dt>核定养老金（月）</dt><dd>{Decimal(total):,.2f} 元</dd>" in page.text
    assert f"<dt>经办机构月发放</dt><dd>{Decimal(paid):,.2f} 元</dd>" in page.text
    for item, amount in items:
        assert f'<td>{item}</td><td class="num">{Decimal(amount):,.2f}</td>' in page.text, item
    latest_year = payments[0][0] // 100
    shown = [p for p in payments if p[0] // 100 == latest_year]
    table = page.text.split("养老金发放记录")[1]
    assert table.count(f"<td>{latest_year}年") == len(shown)  # the latest year by default, every month of it
    estimate_page = portal.client.get("/portal/me/estimate")
    assert estimate_page.status_code == 200 and "您已办理退休" in estimate_page.text
    assert 'name="age_years"' not in estimate_page.text


def test_a_person_in_work_has_no_benefit_yet(portal: Portal, province: Province) -> None:
    log_in(portal.client, province, portal.me)
    page = portal.client.get("/portal/me/benefit")
    assert page.status_code == 200 and "您尚未办理退休，暂无待遇核定信息" in page.text
