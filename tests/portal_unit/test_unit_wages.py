"""The annual wage declaration in the unit portal: template, an upload with row errors (nothing stored,
annotated workbook), a clean upload with the 60–300 % clamp in the preview, an idempotent submit, and
bad files refused with Chinese messages."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from hub import pg
from hub.identity import admin
from tests.api.conftest import Province
from tests.identity.oauthkit import PW, make_app

YEAR = 2025  # the contribution year; the file declares the wages of 2024
CODE = "246810"
WAGE_COLUMN = 5  # E: 申报月平均工资（元）


@pytest.fixture
def operator(province: Province) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    app, _ = make_app(province, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)
    unit = province.units[0]
    login = f"wg{uuid.uuid4().hex[:6]}"
    with TestClient(app) as client:
        rt = app.state.identity
        with pg.connect(province.hub_url) as conn:
            phone = f"135{uuid.uuid4().int % 10**8:08d}"
            admin.insert_unit_operator(conn, rt.cfg, unit["unit_id"], login, "经办人", phone, PW, True, rt.clock(), "t")
            conn.commit()
        form = client.get("/auth/login?kind=unit_operator")
        fields = _hidden(form.text)
        started = client.post(
            "/auth/login",
            data={**fields, "kind": "unit_operator", "unit_code": str(unit["unit_id"]), "login": login,
                  "password": PW, "captcha": "TEST", "next": "/portal/unit"},
        )  # fmt: skip
        assert started.status_code == 200, started.text
        done = client.post(
            "/auth/login/verify", data={**_hidden(started.text), "code": CODE, "next": "/portal/unit"},
            follow_redirects=False,
        )  # fmt: skip
        assert done.status_code == 303 and done.headers["location"] == "/portal/unit"
        yield client, unit


def _hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def _csrf(client: TestClient) -> dict[str, str]:
    page = client.get(f"/portal/unit/wages?year={YEAR}")
    assert page.status_code == 200
    return {k: v for k, v in _hidden(page.text).items() if k == "csrf_token"}


def _template(client: TestClient) -> Any:
    r = client.get(f"/portal/unit/wages/template.xlsx?year={YEAR}")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    return load_workbook(io.BytesIO(r.content))


def _upload(client: TestClient, data: bytes, name: str = "wages.xlsx") -> Any:
    return client.post(
        "/portal/unit/wages/upload",
        data={**_csrf(client), "year": str(YEAR)},
        files={"file": (name, data, "application/octet-stream")},
    )


def _bytes(wb: Any) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _declarations(province: Province, unit_id: int) -> int:
    with pg.connect(province.hub_url) as conn:
        row = conn.execute("select count(*) from hub.declaration where unit_id = %s", (unit_id,)).fetchone()
    return cast(int, row[0]) if row else 0  # count(*) is a bigint


def test_errors_then_preview_then_one_submission(
    operator: tuple[TestClient, dict[str, Any]], province: Province
) -> None:
    client, unit = operator
    before = _declarations(province, unit["unit_id"])
    wb = _template(client)
    ws = wb.active
    staff_rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 3).value]
    assert len(staff_rows) >= 3, "the template lists the unit's staff"

    # A file with two faulty rows: nothing is stored, each error names its row and column.
    for r in staff_rows:
        ws.cell(r, WAGE_COLUMN).value = 6500
    ws.cell(staff_rows[0], WAGE_COLUMN).value = -5
    ws.cell(staff_rows[1], WAGE_COLUMN).value = "6500.123"
    faulty = _upload(client, _bytes(wb))
    assert faulty.status_code == 422
    assert f"第{staff_rows[0]}行" in faulty.text and f"第{staff_rows[1]}行" in faulty.text
    assert "未保存任何内容" in faulty.text
    link = re.search(r'href="(/portal/unit/wages/annotated/[^"]+)"', faulty.text)
    assert link
    annotated = client.get(link.group(1))
    assert annotated.status_code == 200 and annotated.content[:2] == b"PK"
    assert _declarations(province, unit["unit_id"]) == before

    # Fixed: one wage far below the lower bound and one far above the upper bound are clamped.
    ws.cell(staff_rows[0], WAGE_COLUMN).value = 100
    ws.cell(staff_rows[1], WAGE_COLUMN).value = Decimal("99999.99")
    clean = _upload(client, _bytes(wb))
    assert clean.status_code == 200, clean.text
    assert "低于下限，按下限核定" in clean.text and "高于上限，按上限核定" in clean.text
    assert "确认无误，提交申报" in clean.text
    assert _declarations(province, unit["unit_id"]) == before  # a preview stores nothing
    token = _hidden(clean.text)["token"]

    sent = client.post("/portal/unit/wages/submit", data={**_csrf(client), "token": token}, follow_redirects=False)
    assert sent.status_code == 303
    again = client.post("/portal/unit/wages/submit", data={**_csrf(client), "token": token}, follow_redirects=False)
    assert again.headers["location"] == sent.headers["location"]  # submitting twice never creates two
    assert _declarations(province, unit["unit_id"]) == before + 1
    detail = client.get(sent.headers["location"])
    assert "年度缴费工资申报" in detail.text or "缴费工资" in detail.text
    assert "已提交" in detail.text or "审核通过" in detail.text
    listing = client.get("/portal/unit/declarations")
    assert sent.headers["location"] in listing.text


def test_bad_files_are_refused_in_chinese_and_store_nothing(
    operator: tuple[TestClient, dict[str, Any]], province: Province
) -> None:
    client, unit = operator
    before = _declarations(province, unit["unit_id"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    renamed = _upload(client, png, "wages.xlsx")
    assert renamed.status_code == 415
    assert 'role="alert"' in renamed.text
    empty = Workbook()
    sheet = empty.active
    assert sheet is not None
    sheet.append(["随便", "什么"])
    wrong_headers = _upload(client, _bytes(empty))
    assert wrong_headers.status_code in (415, 422)
    forged = client.post(
        "/portal/unit/wages/upload",
        data={"year": str(YEAR)},
        files={"file": ("w.xlsx", png, "application/octet-stream")},
    )
    assert forged.status_code == 403  # no CSRF token
    assert _declarations(province, unit["unit_id"]) == before
