"""Spoken Chinese for the hotline: amounts, numbers, dates, months — cases by hand and a round trip through
an independent parser."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.hotline import speech
from hub.rules.period import Period

D = Decimal


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        ("1234.56", "一千二百三十四元五角六分"),
        ("1005", "一千零五元整"),  # a run of zeros inside is one 零
        ("10", "十元整"),  # 十, not 一十, at the start
        ("10001", "一万零一元整"),
        ("0", "零元整"),
        ("0.50", "五角"),
        ("0.05", "五分"),
        ("0.56", "五角六分"),
        ("10.05", "十元零五分"),  # no 角: 零 before the 分
        ("10.50", "十元五角"),  # trailing 0 分 is silent
        ("110", "一百一十元整"),  # 一十 inside a number keeps its 一
        ("15", "十五元整"),
        ("100100", "十万零一百元整"),  # the 万 section is followed by a section below a thousand
        ("101000", "十万一千元整"),  # … and by a full one: no 零
        ("1000000", "一百万元整"),
        ("100000001", "一亿零一元整"),  # an empty 万 section reads as one 零
        ("120000000", "一亿二千万元整"),
        ("3000.07", "三千元零七分"),
        ("-3.20", "负三元二角"),
        ("1234.565", "一千二百三十四元五角七分"),  # rounded half up to the fen
    ],
)
def test_amounts(value: str, spoken: str) -> None:
    assert speech.amount(D(value)) == spoken


def test_whole_amounts_without_zheng_and_floats_refused() -> None:
    assert speech.amount(D("10"), zheng=False) == "十元"
    with pytest.raises(TypeError):
        speech.amount(10.5)  # type: ignore[arg-type]


def test_dates_months_and_durations() -> None:
    assert speech.month(Period(2026, 11)) == "二〇二六年十一月"
    assert speech.month(Period(2010, 1)) == "二〇一〇年一月"
    assert speech.day(date(2026, 11, 5)) == "二〇二六年十一月五日"
    assert speech.day(date(2000, 10, 20)) == "二〇〇〇年十月二十日"
    assert speech.day(date(2025, 12, 31)) == "二〇二五年十二月三十一日"
    assert speech.months(120) == "十年"
    assert speech.months(146) == "十二年零二个月"
    assert speech.months(7) == "七个月"
    assert speech.months(0) == "零个月"


def test_replies_read_amounts_and_months_aloud() -> None:
    text = speech.balance_reply("基本养老保险个人账户", 2025, D("86512.34"))
    assert text == "您的基本养老保险个人账户截至二〇二五年年底，储存额为八万六千五百一十二元三角四分。"
    paid = speech.payment_reply(Period(2026, 11), D("4757.48"), date(2026, 11, 15))
    assert paid == "您二〇二六年十一月的养老金为四千七百五十七元四角八分，已于二〇二六年十一月十五日发放。"
    assert speech.card_reply("挂失", date(2019, 3, 8)) == "您的社会保障卡状态为挂失，发卡日期为二〇一九年三月八日。"
    contribution = speech.contribution_reply(Period(2026, 10), D("9600"), D("768"), D("1536"))
    assert contribution == (
        "您最近一次缴费所属期为二〇二六年十月，缴费基数九千六百元整，个人缴费七百六十八元整，单位缴费一千五百三十六元整。"
    )
    assert "请按一" in speech.MENU and not any(ch.isdigit() for ch in speech.MENU + text + paid)


# An independent reader of spoken numbers, for the round trip ----------------------------------------

_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")}
_SMALL = {"十": 10, "百": 100, "千": 1000}


def _parse_section(text: str) -> int:
    total, digit = 0, None
    for ch in text:
        if ch in _DIGIT:
            digit = _DIGIT[ch]
        elif ch in _SMALL:
            total += (1 if digit is None else digit) * _SMALL[ch]
            digit = None
        else:
            raise ValueError(ch)
    return total + (digit or 0)


def parse_number(text: str) -> int:
    total = 0
    for unit, factor in (("亿", 10**8), ("万", 10**4)):
        if unit in text:
            head, text = text.split(unit, 1)
            total += parse_number(head) * factor
    return total + _parse_section(text)


def parse_amount(text: str) -> Decimal:
    sign = -1 if text.startswith("负") else 1
    text = text.removeprefix("负").removesuffix("整")
    yuan, jiao, fen = 0, 0, 0
    if "元" in text:
        head, text = text.split("元", 1)
        yuan = parse_number(head)
    text = text.removeprefix("零")
    if "角" in text:
        head, text = text.split("角", 1)
        jiao = _DIGIT[head]
    if "分" in text:
        fen = _DIGIT[text.removesuffix("分")]
    return sign * (D(yuan) + D(jiao) / 10 + D(fen) / 100)


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_numbers_round_trip(n: int) -> None:
    spoken = speech.number(n)
    assert parse_number(spoken) == n
    assert "零零" not in spoken and not (n and spoken.endswith("零"))


@given(st.decimals(min_value=D("-99999999.99"), max_value=D("999999999999.99"), places=2))
def test_amounts_round_trip(value: Decimal) -> None:
    spoken = speech.amount(value)
    assert parse_amount(spoken) == value
    assert spoken.endswith(("整", "角", "分"))
