"""调基补差明细: a wage declaration the core applies re-plans a month already planned; the unit's page shows,
per person, 险种 and month, the old and new base, the rates, the difference, what is owed and why, with
the dated parameters it rests on. Worked by hand from the test parameters (tests/fixtures/params.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from core import service as core_service
from hub import pg
from tests.declarations.conftest import World, world
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit as staff_kit

__all__ = ["world"]


@pytest.fixture
def declared(world: World) -> Iterator[World]:
    """Persons 1 and 2 of unit 1 (全额供款) are planned for 2025-01 at 10,000 (kit.seed_core); in March the
    unit declares 12,000 for person 1 and 25,000 for person 2, so January is re-planned (调基补差)."""
    with pg.connect(world.dbs.core_url) as core:
        core_service.declare_wages(core, 1, 2025, [(1, Decimal("12000")), (2, Decimal("25000"))], date(2025, 3, 10))
        core.commit()
    world.sync_round()
    yield world


def _page(world: World, unit_id: int, query: str = "") -> str:
    app, _ = make_app(world.dbs, test_fixed_captcha="TEST", test_fixed_sms_code=staff_kit.CODE)
    operator = staff_kit.add_unit_operator(app, world.dbs.hub_url, unit_id)
    with TestClient(app, raise_server_exceptions=False) as client:
        staff_kit.log_in(client, "unit_operator", operator["login"], "/portal/unit", unit_code=str(unit_id))
        home = client.get("/portal/unit")
        assert 'href="/portal/unit/adjustments"' in home.text  # in the unit navigation
        got = client.get("/portal/unit/adjustments" + query)
    assert got.status_code == 200, got.text
    return got.text


def _rows(html: str) -> list[list[str]]:
    body = html.split("<caption>调基补差明细", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]
    return [c for c in cells if c]  # the head row has no data cells


def test_each_difference_is_shown_with_its_bases_rates_and_reason(declared: World) -> None:
    html = _page(declared, 1, "?year=2025")
    lines = {(r[1], r[6]): r for r in _rows(html)}  # by person and rates: 120 is 16 % / 8 %, 116 8 % / 4 %
    # The bounds of 2025 come from the 2024 全口径 wage 7,300 at 60 %–300 %: 4,380.00–21,900.00.
    # Person 1, 120: base 10,000 → 12,000; 2,000 × 16 % = 320.00 (unit), 2,000 × 8 % = 160.00 (person).
    p1 = lines[("1", "16% / 8%")]
    assert p1[0] == "2025年01月"
    assert p1[4:10] == ["10,000.00", "12,000.00", "16% / 8%", "320.00", "160.00", "480.00"]
    assert "缴费工资由 10,000.00 元 调整为 12,000.00 元" in p1[10]
    # Person 2, 120: 25,000 is over the upper bound, so the base is 21,900; 11,900 × 16 % = 1,904.00 and
    # 11,900 × 8 % = 952.00.
    p2 = lines[("2", "16% / 8%")]
    assert p2[4:10] == ["10,000.00", "21,900.00", "16% / 8%", "1,904.00", "952.00", "2,856.00"]
    assert "缴费工资高于上限，按上限 21,900.00 元 核定缴费基数" in p2[10]
    # 职业年金 (116) of a 全额供款 unit: the unit share (8 %) is 虚账, only the personal 4 % is owed:
    # person 1: 2,000 × 8 % = 160.00 (虚账), 2,000 × 4 % = 80.00; person 2: 11,900 × 8 % = 952.00 (虚账), 476.00.
    a1, a2 = lines[("1", "8% / 4%")], lines[("2", "8% / 4%")]
    assert (a1[4], a1[5], a1[7], a1[8], a1[9]) == ("10,000.00", "12,000.00", "160.00（虚账）", "80.00", "80.00")
    assert (a2[4], a2[5], a2[7], a2[8], a2[9]) == ("10,000.00", "21,900.00", "952.00（虚账）", "476.00", "476.00")
    assert len(lines) == 4
    # Owed: 480 + 80 + 2,856 + 476 = 3,892.00; differences: 480 + 240 + 2,856 + 1,428 = 5,004.00.
    assert "应补缴合计 3,892.00 元" in html and "差额合计 5,004.00 元" in html
    # The parameters behind it, with their effective period and source.
    assert "7,300.00 元" in html and "60%–300%（2025年为 4,380.00 元–21,900.00 元）" in html
    assert "自2019年01月起" in html and "自2019年05月起" in html and "测试参数" in html


def test_another_unit_sees_none_of_it(declared: World) -> None:
    html = _page(declared, 2)
    assert _rows(html) == [["所选范围内没有调基补差。"]]
    assert "21,900.00" not in html
