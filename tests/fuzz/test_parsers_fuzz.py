"""Fuzzing the parsers that read what outsiders send: SMPP delivery receipts and uploaded spreadsheets.

Pass criterion: any input ends in a result or the module's own error (a Chinese message for uploads),
never another exception and never a hang. CI runs a few hundred examples each; ``HUB_FUZZ_EXAMPLES``
raises it for a nightly-size run.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.utils.exceptions import IllegalCharacterError

from hub.wagefile import RosterEntry, WagefileError, WagefileSettings, read_declaration
from sms.receipts import ParsedReceipt, parse

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ROSTER = [RosterEntry("1001", "11010519491231002X", "张三"), RosterEntry("1002", "110105198001010010", "李四")]
LIMITS = WagefileSettings()


# SMPP receipts -------------------------------------------------------------------------------------

receipt_text = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda i, s, e, junk: (
            f"id:{i} sub:001 dlvrd:001 submit date:2611271200 done date:2611271201 stat:{s} err:{e} text:{junk}".encode(
                "latin-1", "replace"
            )
        ),
        st.text(min_size=0, max_size=70),
        st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "ACCEPTD", "UNKNOWN", "deleted", "", "¿"]),
        st.text(max_size=5),
        st.text(max_size=40),
    ),
)


@FUZZ
@given(
    text=receipt_text,
    tlv_id=st.one_of(st.none(), st.binary(max_size=70), st.text(max_size=70)),
    state=st.one_of(st.none(), st.integers(min_value=-5, max_value=300)),
)
def test_any_deliver_sm_gives_a_receipt_or_none(text: bytes, tlv_id: bytes | str | None, state: int | None) -> None:
    result = parse(text, tlv_id, state)
    assert result is None or (isinstance(result, ParsedReceipt) and result.smpp_id and result.stat)


def test_a_well_formed_receipt_is_read() -> None:
    # The de-facto text form of SMPP 3.4 Appendix B, with the id and the state from the TLVs absent.
    got = parse(
        b"id:ABC123 sub:001 dlvrd:001 submit date:2611271200 done date:2611271201 stat:DELIVRD err:000", None, None
    )
    assert got == ParsedReceipt("ABC123", "DELIVRD", "000")


# Spreadsheets --------------------------------------------------------------------------------------


def _declaration(cells: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["序号", "个人编号", "公民身份号码", "姓名", "申报月平均工资（元）", "起薪日期", "备注"])
    for row in cells:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


cell = st.one_of(
    st.none(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9),
    st.text(max_size=40),
    st.sampled_from(["=1+1", "＝SUM(A1:A2)", "６５００．００", " 6500 ", "11010519491231002x", "张三", "𠮷"]),
)


def _read(data: bytes) -> None:
    try:
        result = read_declaration(data, ROSTER, year=2025, settings=LIMITS)
    except WagefileError as exc:
        assert exc.detail and any("\u4e00" <= ch <= "\u9fff" for ch in exc.detail)  # a Chinese message
        return
    for error in result.errors:
        assert error.message
    for row in result.rows:
        assert isinstance(row.wage, Decimal)


@FUZZ
@given(st.lists(st.lists(cell, min_size=0, max_size=8), min_size=0, max_size=6))
def test_any_sheet_content_is_read_or_refused_in_chinese(rows: list[list[object]]) -> None:
    values = [[None if isinstance(v, float) and math.isnan(v) else v for v in r] for r in rows]  # openpyxl: no NaN
    try:
        data = _declaration(values)
    except (ValueError, TypeError, IllegalCharacterError):
        return  # openpyxl itself will not write it (illegal characters): not an upload anyone can make
    _read(data)


@FUZZ
@given(st.binary(max_size=4000))
def test_any_bytes_are_refused_in_chinese_or_read(data: bytes) -> None:
    _read(data)


@FUZZ
@given(st.integers(min_value=0, max_value=5000), st.binary(min_size=1, max_size=16))
def test_a_corrupted_workbook_is_refused_or_read(offset: int, garbage: bytes) -> None:
    data = bytearray(_declaration([[1, "1001", "11010519491231002X", "张三", 6500]]))
    at = offset % len(data)
    data[at : at + len(garbage)] = garbage
    _read(bytes(data))


def test_a_zip_with_a_lying_entry_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>" * 10)
    _read(out.getvalue())
