"""Normalisation of typed cell values: full-width digits, stray spaces, amounts and dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.wagefile.normalize import (
    CellValueError,
    excel_serial_date,
    normalize_id_number,
    normalize_name,
    parse_amount,
    parse_date,
)

# Full-width forms of ASCII '!'..'~' are U+FF01..U+FF5E, at a fixed distance of 0xFEE0.
FULL_WIDTH_OFFSET = 0xFEE0
SPACES = [" ", "\u3000", "\u00a0", "\t", "\u200b", "\ufeff"]


def widen(text: str, which: list[bool]) -> str:
    """Turn the chosen ASCII characters into their full-width forms."""
    return "".join(
        chr(ord(ch) + FULL_WIDTH_OFFSET) if flag and "!" <= ch <= "~" else ch
        for ch, flag in zip(text, which + [False] * len(text), strict=False)
    )


def sprinkle(text: str, spaces: list[str]) -> str:
    """Insert stray spaces before, between and after the characters."""
    out = []
    for i, ch in enumerate(text):
        out.append(spaces[i % len(spaces)] if spaces else "")
        out.append(ch)
    out.append(spaces[-1] if spaces else "")
    return "".join(out)


@given(
    digits=st.text(alphabet="0123456789", min_size=17, max_size=17),
    last=st.sampled_from("0123456789Xx"),
    which=st.lists(st.booleans(), min_size=18, max_size=18),
    spaces=st.lists(st.sampled_from(SPACES), max_size=6),
)
def test_id_number_folding_is_independent_of_width_and_spaces(
    digits: str, last: str, which: list[bool], spaces: list[str]
) -> None:
    plain = digits + last
    typed = sprinkle(widen(plain, which), spaces)
    assert normalize_id_number(typed) == plain.upper()


@given(
    yuan=st.integers(min_value=1, max_value=9_999_999),
    fen=st.integers(min_value=0, max_value=99),
    which=st.lists(st.booleans(), max_size=16),
    spaces=st.lists(st.sampled_from(SPACES), max_size=4),
    grouped=st.booleans(),
)
def test_amount_text_in_any_width_and_spacing_is_the_same_decimal(
    yuan: int, fen: int, which: list[bool], spaces: list[str], grouped: bool
) -> None:
    text = (f"{yuan:,}" if grouped else str(yuan)) + f".{fen:02d}"
    typed = sprinkle(widen(text, which), spaces)
    assert parse_amount(typed) == Decimal(yuan) + Decimal(fen) / 100


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2))
def test_a_two_decimal_number_cell_keeps_its_exact_value(amount: Decimal) -> None:
    # The spreadsheet stores the double nearest to what was typed; its shortest text is the typed value.
    assert parse_amount(float(amount)) == amount


# 2199-12-31, the last day a period may have, is 109,574 days after 1899-12-30.
@given(st.integers(min_value=61, max_value=109_574))
def test_excel_serials_after_the_1900_leap_bug_count_from_1899_12_30(serial: int) -> None:
    assert (excel_serial_date(serial) - date(1899, 12, 30)).days == serial


def test_excel_serial_examples() -> None:
    assert excel_serial_date(1) == date(1900, 1, 1)
    assert excel_serial_date(59) == date(1900, 2, 28)
    assert excel_serial_date(61) == date(1900, 3, 1)
    # 45292 days after 1899-12-30 is 2024-01-01 (Excel shows 45292 formatted as a date so).
    assert excel_serial_date(45292) == date(2024, 1, 1)
    assert excel_serial_date(45292.75) == date(2024, 1, 1)
    with pytest.raises(CellValueError):
        excel_serial_date(60)
    with pytest.raises(CellValueError):
        excel_serial_date(0)
    with pytest.raises(CellValueError):
        excel_serial_date(109_575)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", date(2024, 3, 5)),
        ("２０２４／３／５", date(2024, 3, 5)),
        (" 2024.3.5 ", date(2024, 3, 5)),
        ("2024年3月5日", date(2024, 3, 5)),
        ("20240305", date(2024, 3, 5)),
        ("2024-03", date(2024, 3, 1)),
        ("2024年3月", date(2024, 3, 1)),
        ("202403", date(2024, 3, 1)),
        (45356, date(2024, 3, 5)),  # 2024-03-05 is 45356 days after 1899-12-30
        (45356.0, date(2024, 3, 5)),
        (date(2024, 3, 5), date(2024, 3, 5)),
        (datetime(2024, 3, 5, 8, 30), date(2024, 3, 5)),  # noqa: DTZ001
    ],
)
def test_dates(value: object, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2024-02-30", "2024-13-01", "三月五日", "", True, "0000-01-01"])
def test_bad_dates(value: object) -> None:
    with pytest.raises(CellValueError) as exc:
        parse_date(value)
    assert exc.value.code == "date_format"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0", "amount_not_positive"),
        ("-100.00", "amount_not_positive"),
        (-5.0, "amount_not_positive"),
        ("6500.001", "amount_decimals"),
        (0.1 + 0.2, "amount_decimals"),  # 0.30000000000000004: a computed double, not a typed amount
        ("6500元", "amount_format"),
        ("六千", "amount_format"),
        ("1,00,000", "amount_format"),
        (True, "amount_format"),
    ],
)
def test_bad_amounts(value: object, code: str) -> None:
    with pytest.raises(CellValueError) as exc:
        parse_amount(value)
    assert exc.value.code == code


def test_amount_examples() -> None:
    assert parse_amount("６，５００．５０") == Decimal("6500.50")
    assert parse_amount(6500) == Decimal(6500)
    assert parse_amount(6500.5) == Decimal("6500.5")
    assert parse_amount(" 12 345.6 ") == Decimal("12345.6")


def test_names_fold_spaces_and_middle_dots() -> None:
    assert normalize_name(" 张\u3000三 ") == "张三"
    assert normalize_name("买买提•艾力") == normalize_name("买买提·艾力") == "买买提·艾力"
    assert normalize_name("买买提・艾力") == "买买提·艾力"
    assert normalize_name("𠮷田") == "𠮷田"  # a CJK Extension B character survives NFKC


def test_a_numeric_id_number_is_refused_because_digits_were_lost() -> None:
    with pytest.raises(CellValueError) as exc:
        normalize_id_number(4.30104199001011e17)
    assert exc.value.code == "id_numeric"
    assert "文本" in exc.value.message
