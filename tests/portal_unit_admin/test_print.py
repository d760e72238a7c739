"""单位参保证明 (signed PDF whose printed code verifies at /verify) and 缴费明细 (a PDF table of one year)."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any, cast

from pypdf import PdfReader

from hub import pg
from hub.certificates import codes
from tests.portal_unit_admin.conftest import Portal, csrf


def _text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_unit_certificate_pdf_verifies(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client = portal.client
    assert client.get("/portal/unit/admin/print").status_code == 200
    assert client.post("/portal/unit/admin/certificate.pdf", data={}).status_code == 403  # no CSRF token
    response = client.post("/portal/unit/admin/certificate.pdf", data=csrf(client, "/portal/unit/admin/print"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "no-store" in response.headers["cache-control"]
    assert response.content.startswith(b"%PDF-")
    text = _text(response.content)
    with pg.connect(portal.province.query_url) as conn:
        row = conn.execute("select name from unit_overview where unit_id = %s", (unit["unit_id"],)).fetchone()
    assert row is not None and cast(str, row[0]) in text and "单位参保证明" in text  # unit_overview.name is text
    found = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text)
    assert found and codes.normalize(found.group(0)) is not None
    verified = client.post("/verify", data={"code": found.group(0)})
    assert verified.status_code == 200 and "验证通过" in verified.text and "单位参保证明" in verified.text


def test_payment_details_pdf_for_a_year(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client = portal.client
    with pg.connect(portal.province.query_url) as conn:
        newest = conn.execute(
            "select period / 100, array_agg(distinct period order by period), sum(due) from unit_month_total "
            "where unit_id = %s group by 1 order by 1 desc limit 1",
            (unit["unit_id"],),
        ).fetchone()
    assert newest is not None
    # period is an integer and due a numeric: an integer, an integer array and a numeric sum
    year, months, due = cast(tuple[int, list[int], Decimal], newest)
    token = csrf(client, "/portal/unit/admin/print")
    response = client.post("/portal/unit/admin/payments.pdf", data={**token, "year": str(year)})
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"%PDF-")
    text = _text(response.content)
    assert f"{year}年度缴费明细" in text
    for period in months:
        assert f"{period // 100}年{period % 100:02d}月" in text  # every month of the year is a row
    assert f"{Decimal(due):,.2f}" in text  # the 合计 of 应缴 over the year, summed by the store

    bad = client.post("/portal/unit/admin/payments.pdf", data={**token, "year": "19"})
    assert bad.status_code == 422 and "请选择正确的年度" in bad.text
