"""Bad input and limits: each refusal has its own code, an HTTP status and a Chinese message."""

from __future__ import annotations

import io
import struct
import zipfile
from decimal import Decimal
from pathlib import Path

import msoffcrypto.format.ooxml  # type: ignore[import-untyped]  # msoffcrypto-tool ships no type hints
import olefile
import pytest
import xlwt  # type: ignore[import-untyped]  # xlwt ships no type hints
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.wagefile import WAGEFILE_ERRORS, WagefileSettings, read_declaration
from hub.wagefile.container import inspect
from hub.wagefile.errors import (
    EncryptedWorkbook,
    FileTooLarge,
    MacroWorkbook,
    MalformedWorkbook,
    NotASpreadsheet,
    TooManyColumns,
    TooManyRows,
    UnsafeXml,
    WagefileError,
    ZipBomb,
)
from tests.wagefile.files import HEADERS, SETTINGS, YEAR, ods, rezip, roster, rows_for, xls, xlsx

PEOPLE = roster(3)
GOOD = xlsx(rows_for(PEOPLE, [6500, 6500, 6500]))
SHEET = "xl/worksheets/sheet1.xml"


def refuse(data: bytes, expected: type[WagefileError], settings: WagefileSettings = SETTINGS) -> WagefileError:
    with pytest.raises(expected) as exc:
        read_declaration(data, PEOPLE, year=YEAR, settings=settings)
    error = exc.value
    assert type(error) is expected
    assert error.extensions["code"] == expected.code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error.detail)  # a Chinese message
    return error


def test_codes_are_distinct_and_statuses_map_to_413_415_422() -> None:
    codes = [e.code for e in WAGEFILE_ERRORS]
    assert len(codes) == len(set(codes))
    assert {e.status for e in WAGEFILE_ERRORS} == {413, 415, 422}
    assert {e.code for e in WAGEFILE_ERRORS if e.status == 413} == {
        "file_too_large",
        "too_many_rows",
        "too_many_columns",
        "zip_bomb",
    }


def test_the_good_file_is_accepted() -> None:
    d = read_declaration(GOOD, PEOPLE, year=YEAR, settings=SETTINGS)
    assert d.ok and len(d.rows) == 3


# size and row limits ---------------------------------------------------------------------------


def test_file_over_the_size_limit() -> None:
    error = refuse(GOOD, FileTooLarge, WagefileSettings(max_file_bytes=len(GOOD) - 1))
    assert error.status == 413


def test_rows_over_the_limit_are_refused_before_calamine_reads_the_sheet() -> None:
    people = roster(30)
    data = xlsx(rows_for(people, [6500] * 30))
    # 31 rows with data > 5 rows + 10 header rows searched: refused by the pre-scan.
    error = refuse(data, TooManyRows, WagefileSettings(max_rows=5))
    assert error.status == 413
    assert "5" in error.detail


def test_rows_over_the_limit_counted_while_iterating() -> None:
    people = roster(8)
    data = xlsx(rows_for(people, [6500] * 8))
    # 9 rows pass the pre-scan (≤ 5 + 10) but the 6th data row is one too many.
    refuse(data, TooManyRows, WagefileSettings(max_rows=5))


def test_a_cell_far_to_the_right_is_refused() -> None:
    rows = rows_for(PEOPLE, [6500, 6500, 6500])
    rows[0].extend([""] * 100 + ["x"])
    error = refuse(xlsx(rows), TooManyColumns)
    assert error.status == 413


def test_a_cell_a_million_rows_down_is_refused() -> None:
    sheet = zipfile.ZipFile(io.BytesIO(GOOD)).read(SHEET)
    far = b'<row r="1048576"><c r="A1048576" t="n"><v>1</v></c></row></sheetData>'
    refuse(rezip(GOOD, replace={SHEET: sheet.replace(b"</sheetData>", far)}), TooManyRows)


def test_a_cell_reference_far_down_inside_a_low_row_element_is_refused() -> None:
    # calamine places a cell by its own reference, whatever the enclosing <row r> says.
    sheet = zipfile.ZipFile(io.BytesIO(GOOD)).read(SHEET)
    far = b'<row r="5"><c r="A1048576" t="n"><v>1</v></c></row></sheetData>'
    refuse(rezip(GOOD, replace={SHEET: sheet.replace(b"</sheetData>", far)}), TooManyRows)


def test_an_xls_cell_far_away_is_refused_but_a_formatted_empty_one_is_not() -> None:
    rows = rows_for(PEOPLE, [6500, 6500, 6500])

    def build(far: object, style: xlwt.XFStyle) -> bytes:
        wb = xlwt.Workbook(encoding="utf-8")
        ws = wb.add_sheet("缴费工资申报")
        for r, row in enumerate([HEADERS, *rows]):
            for c, value in enumerate(row):
                ws.write(r, c, value)
        ws.write(60000, 3, far, style)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()

    formatted = xlwt.easyxf("pattern: pattern solid;")
    assert read_declaration(build("", formatted), PEOPLE, year=YEAR, settings=SETTINGS).ok  # a BLANK record
    refuse(build(1, formatted), TooManyRows)


# not a spreadsheet ------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (EXE, "可执行程序"),
        (PNG, "图片"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        ("序号,公民身份号码,姓名\n1,430104199001011234,张三\n".encode(), "CSV"),
        (b"", "为空"),
    ],
)
def test_not_a_spreadsheet_by_content(data: bytes, hint: str) -> None:
    error = refuse(data, NotASpreadsheet)
    assert error.status == 415
    assert hint in error.detail


def test_a_plain_zip_a_docx_and_an_xlsb_are_not_spreadsheets() -> None:
    def zip_of(parts: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name, content in parts.items():
                zf.writestr(name, content)
        return out.getvalue()

    ct = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    assert "压缩包" in refuse(zip_of({"a.txt": b"hello"}), NotASpreadsheet).detail
    assert "Word" in refuse(zip_of({"[Content_Types].xml": ct, "word/document.xml": b"<w/>"}), NotASpreadsheet).detail
    assert "xlsb" in refuse(zip_of({"[Content_Types].xml": ct, "xl/workbook.bin": b"\x00"}), NotASpreadsheet).detail


def test_a_truncated_or_broken_file_is_malformed() -> None:
    assert refuse(GOOD[: len(GOOD) // 2], MalformedWorkbook).status == 422
    sheet = zipfile.ZipFile(io.BytesIO(GOOD)).read(SHEET)
    refuse(rezip(GOOD, replace={SHEET: sheet.replace(b"</sheetData>", b"<row>")}), MalformedWorkbook)


def test_two_zip_entries_of_one_name_are_refused() -> None:
    # A benign and a hostile copy of the sheet: zip readers disagree about which one counts.
    sheet = zipfile.ZipFile(io.BytesIO(GOOD)).read(SHEET)
    with pytest.warns(UserWarning, match="Duplicate name"):
        doubled = rezip(GOOD, add={SHEET: sheet.replace(b"<v>6500</v>", b"<f>6000+500</f><v>6500</v>")})
    refuse(doubled, MalformedWorkbook)


# password and macros ----------------------------------------------------------------------------


def test_password_protected_xlsx() -> None:
    encrypted = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(GOOD)).encrypt("密码123", encrypted)
    error = refuse(encrypted.getvalue(), EncryptedWorkbook)
    assert error.status == 415
    assert "密码" in error.detail


def test_password_protected_xls(tmp_path: Path) -> None:
    """An xls whose globals carry a FILEPASS record (0x002F), as Excel writes for a password.

    xlwt cannot encrypt, so the type of the first record after BOF is rewritten to FILEPASS in
    place (same length, so the OLE container stays valid)."""
    path = tmp_path / "protected.xls"
    path.write_bytes(xls(rows_for(PEOPLE, [6500, 6500, 6500])))
    ole = olefile.OleFileIO(str(path))
    stream = bytearray(ole.openstream("Workbook").read())
    _, bof_len = struct.unpack_from("<HH", stream, 0)
    struct.pack_into("<H", stream, 4 + bof_len, 0x002F)
    ole.close()
    ole = olefile.OleFileIO(str(path), write_mode=True)
    ole.write_stream("Workbook", bytes(stream))
    ole.close()
    refuse(path.read_bytes(), EncryptedWorkbook)


def test_encrypted_ods() -> None:
    manifest = '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
    refuse(ods(rows_for(PEOPLE, [6500] * 3), manifest_extra=manifest), EncryptedWorkbook)


def test_zip_entries_with_the_encryption_flag() -> None:
    data = bytearray(GOOD)
    # Set bit 0 of the general-purpose flags in every central directory header (PK\x01\x02).
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        data[pos + 8] |= 0x01
        pos = data.find(b"PK\x01\x02", pos + 4)
    refuse(bytes(data), EncryptedWorkbook)


def test_macro_enabled_workbook() -> None:
    ct = zipfile.ZipFile(io.BytesIO(GOOD)).read("[Content_Types].xml")
    xlsm_ct = ct.replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    assert xlsm_ct != ct
    error = refuse(rezip(GOOD, replace={"[Content_Types].xml": xlsm_ct}), MacroWorkbook)
    assert error.status == 415
    assert "宏" in error.detail
    refuse(rezip(GOOD, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504}), MacroWorkbook)
    refuse(rezip(GOOD, add={"xl/macrosheets/sheet1.xml": b"<xm/>"}), MacroWorkbook)


def test_ods_with_basic_macros() -> None:
    refuse(ods(rows_for(PEOPLE, [6500] * 3), extra={"Basic/Standard/Module1.xml": b"<m/>"}), MacroWorkbook)


# zip bombs ----------------------------------------------------------------------------------------


def test_too_many_entries() -> None:
    error = refuse(rezip(GOOD, add={f"xl/media/pad{i}.bin": b"" for i in range(300)}), ZipBomb)
    assert error.status == 413


def test_compression_ratio_of_an_entry() -> None:
    # 4 MiB of zeros deflate to about 4 KiB: a ratio near 1,000 against the limit of 200.
    refuse(rezip(GOOD, add={"xl/media/zeros.bin": b"\x00" * (4 * 1024 * 1024)}), ZipBomb)


def test_declared_total_uncompressed_size() -> None:
    settings = WagefileSettings(max_uncompressed_bytes=1024 * 1024, max_compression_ratio=10**9)
    refuse(rezip(GOOD, add={"xl/media/zeros.bin": b"\x00" * (2 * 1024 * 1024)}), ZipBomb, settings)


def test_declared_sizes_are_checked_before_anything_is_decompressed() -> None:
    """The central directory claims 4 GB for the sheet while its data are unchanged: only a check of
    the declared sizes (before decompressing) sees a bomb; reading the data would find a CRC error."""
    data = bytearray(GOOD)
    with zipfile.ZipFile(io.BytesIO(GOOD)) as zf:
        names = [i.filename for i in zf.infolist()]
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]).decode() == SHEET:
            struct.pack_into("<I", data, pos + 24, 0xFFFF0000)  # uncompressed size
        pos = data.find(b"PK\x01\x02", pos + 4)
    assert SHEET in names
    refuse(bytes(data), ZipBomb)


# hostile XML --------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
    b'<c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
    b'<c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>'
)


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_entities_in_the_sheet_xml(payload: bytes) -> None:
    error = refuse(rezip(GOOD, replace={SHEET: payload}), UnsafeXml)
    assert error.status == 415


def test_a_doctype_in_shared_strings_or_content_xml() -> None:
    ss = b'<?xml version="1.0"?><!DOCTYPE sst><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
    names = zipfile.ZipFile(io.BytesIO(GOOD)).namelist()
    target = "xl/sharedStrings.xml" if "xl/sharedStrings.xml" in names else "xl/styles.xml"
    refuse(rezip(GOOD, replace={target: ss}), UnsafeXml)
    good_ods = ods(rows_for(PEOPLE, [Decimal(6500)] * 3))
    content = zipfile.ZipFile(io.BytesIO(good_ods)).read("content.xml")
    laughs = content.replace(b"?>", b'?><!DOCTYPE office:document-content [<!ENTITY a "aaaa">]>', 1)
    refuse(rezip(good_ods, replace={"content.xml": laughs}), UnsafeXml)


# formulas wherever the sheet XML puts them -------------------------------------------------------


def test_formulas_in_strict_ooxml_and_in_unnamed_sheet_parts_are_seen() -> None:
    people = PEOPLE
    with_formula = xlsx(rows_for(people, ["=1+1", 6500, 6500]))
    main = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strict = b"http://purl.oclc.org/ooxml/spreadsheetml/main"
    parts = zipfile.ZipFile(io.BytesIO(with_formula))
    strict_file = rezip(
        with_formula,
        replace={
            SHEET: parts.read(SHEET).replace(main, strict),
            "xl/workbook.xml": parts.read("xl/workbook.xml")
            .replace(main, strict)
            .replace(
                b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
                b"http://purl.oclc.org/ooxml/officeDocument/relationships",
            ),
        },
    )
    assert inspect(strict_file, SETTINGS).sheets["缴费工资申报"].formulas == [(2, 5)]
    # A relationship target the workbook map does not resolve: the part is still scanned as a sheet.
    rels = parts.read("xl/_rels/workbook.xml.rels").replace(
        b"worksheets/sheet1.xml", b"worksheets/../worksheets/sheet1.xml"
    )
    odd = rezip(with_formula, replace={"xl/_rels/workbook.xml.rels": rels})
    scan = inspect(odd, SETTINGS)
    assert scan.sheets == {}
    assert scan.formulas_of("缴费工资申报") == [(2, 5)]


# damaged files ------------------------------------------------------------------------------------

SEEDS = {
    "xlsx": GOOD,
    "ods": ods(rows_for(PEOPLE, [6500] * 3)),
    "xls": xls(rows_for(PEOPLE, [6500] * 3)),
}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(sorted(SEEDS)),
    changes=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_damaged_files_are_refused_cleanly_or_read(kind: str, changes: list[tuple[float, int]]) -> None:
    """Random byte damage (including what makes calamine's Rust reader panic on an xls) ends in
    a WagefileError or a normal result, never in another exception."""
    data = bytearray(SEEDS[kind])
    for where, value in changes:
        data[int(where * len(data))] = value
    try:
        read_declaration(bytes(data), PEOPLE, year=YEAR, settings=SETTINGS)
    except WagefileError as exc:
        assert exc.status in (413, 415, 422)


def test_a_panic_of_calamines_xls_reader_becomes_malformed() -> None:
    # Found by the damage test above: this single byte makes the Rust reader index past a sector
    # ("range start index … out of range for slice of length 4096"), a pyo3 PanicException.
    people = roster(5)
    data = bytearray(xls(rows_for(people, [6500] * 5)))
    data[1425] = 107
    with pytest.raises(MalformedWorkbook):
        read_declaration(bytes(data), people, year=YEAR, settings=SETTINGS)
