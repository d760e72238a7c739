"""Certificate fixtures: sample contents (one with a CJK Ext-B name) and the machine's fonts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from hub.certificates import content as c
from hub.certificates.fonts import Face, find_faces

RARE_NAME = "吉𠮷"  # 𠮷 is U+20BB7, CJK Extension B
ID_NUMBER = "11010519491231002X"  # GB 11643 example number (valid check digit)


def person_content(name: str = RARE_NAME) -> c.Content:
    return c.person_certificate(
        person_id=4711,
        name=name,
        id_number=ID_NUMBER,
        region="示例市本级",
        insurances=[
            c.InsuranceLine("机关事业单位基本养老保险", "参保缴费", 201410, 146, 202611, "示例市财政局"),
            c.InsuranceLine("职业年金", "参保缴费", 201410, 146, 202611, "示例市财政局"),
        ],
        as_of=date(2026, 11, 27),
    )


def statement_content() -> c.Content:
    return c.rights_statement(
        person_id=4711,
        name=RARE_NAME,
        id_number=ID_NUMBER,
        year=2025,
        lines=[
            c.StatementYear(
                "机关事业单位基本养老保险",
                12,
                Decimal("96000.00"),
                Decimal("15360.00"),
                Decimal("7680.00"),
                Decimal("7680.00"),
                Decimal(0),
                Decimal("86512.34"),
            )
        ],
        as_of=date(2026, 11, 27),
    )


def unit_content() -> c.Content:
    return c.unit_certificate(
        unit_id=31,
        unit_name="示例市财政局",
        credit_code="11440300007502891L",
        insured_count=86,
        insurances=[c.InsuranceLine("机关事业单位基本养老保险", "正常参保", 201410, 146, 202611)],
        as_of=date(2026, 11, 27),
    )


@pytest.fixture(scope="session")
def faces() -> tuple[Face, ...]:
    found = find_faces()
    assert found, "no CJK font with Ext-B coverage on this machine: install fonts-noto-cjk or fonts-hanazono"
    return found
