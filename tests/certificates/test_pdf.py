"""Certificate PDFs: rare characters render and survive text extraction, the fallback warns, the signature
exposes any edit (pyHanko's validator), the QR code carries the verification URL."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fontTools ships no type hints
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pypdf import PageObject, PdfReader
from pypdf.generic import DictionaryObject, StreamObject

from hub.certificates import codes
from hub.certificates.content import Content
from hub.certificates.fonts import BUILTIN_CID_FONT, Face, find_faces
from hub.certificates.pdf import Stamp, render, verify_link
from hub.certificates.signing import SigningIdentity, check_pdf, new_identity, sign_pdf
from tests.certificates.conftest import RARE_NAME, person_content, statement_content, unit_content

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


def _stamp(content: Content) -> Stamp:
    expires = NOW + timedelta(days=30)
    code = codes.make_code("test-key", "ZM20261127TESTTESTAB", content.digest(), expires)
    url = verify_link("https://hub.test/verify", codes.display(code))
    return Stamp("ZM20261127TESTTESTAB", NOW, expires, code, url, "示例市社会保险事业管理中心")


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _fonts(page: PageObject) -> list[DictionaryObject]:
    """The font dictionaries of a page's resources (pypdf types each resolved entry as a bare PdfObject)."""
    fonts = cast(DictionaryObject, cast(DictionaryObject, page["/Resources"])["/Font"])
    return [cast(DictionaryObject, ref.get_object()) for ref in fonts.values()]


def _font_names(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in _fonts(page):
            names.add(str(font["/BaseFont"]))
    return names


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return new_identity(NOW, "示例市社会保险事业管理中心")


def test_rare_name_is_embedded_and_extractable(faces: tuple[Face, ...]) -> None:
    content = person_content()
    pdf = render(content, _stamp(content), faces)
    text = _text(pdf)
    # The Ext-B character comes back from the embedded font's ToUnicode map (a surrogate pair).
    assert RARE_NAME in text
    assert "\U00020bb7" in text
    assert "11010519491231002X" in text and "2014年10月" in text
    fonts = _font_names(pdf)
    assert fonts and BUILTIN_CID_FONT not in fonts, fonts  # everything came from the embedded face
    # The embedded subset really holds an outline for 𠮷: find the code its ToUnicode map gives it and
    # look the glyph up in the embedded font file.
    assert _embedded_glyph_contours(pdf, "\U00020bb7") > 0


def _embedded_glyph_contours(pdf: bytes, char: str) -> int:
    wanted = char.encode("utf-16-be").hex().upper()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in _fonts(page):
            if font.get("/Subtype") != "/TrueType" or "/ToUnicode" not in font:
                continue
            cmap = cast(StreamObject, font["/ToUnicode"].get_object()).get_data().decode()
            found = re.search(r"<([0-9A-F]{2})> <" + wanted + ">", cmap)
            if found is None:
                continue
            descriptor = cast(DictionaryObject, font["/FontDescriptor"].get_object())
            data = cast(StreamObject, descriptor["/FontFile2"].get_object()).get_data()
            tt = TTFont(io.BytesIO(data))
            glyph_name = tt["cmap"].getcmap(1, 0).cmap[int(found.group(1), 16)]
            glyph = tt["glyf"][glyph_name]
            return int(glyph.numberOfContours)
    return 0


def test_statement_and_unit_certificates_render(faces: tuple[Face, ...]) -> None:
    for content in (statement_content(), unit_content()):
        text = _text(render(content, _stamp(content), faces))
        assert content.title in text
        assert codes.display(_stamp(content).code) in text
    assert "86,512.34" in _text(render(statement_content(), _stamp(statement_content()), faces))


def test_without_an_embeddable_font_it_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    content = person_content("张三")
    with caplog.at_level(logging.WARNING, logger="hub.certificates.fonts"):
        pdf = render(content, _stamp(content), ())
    assert any(BUILTIN_CID_FONT in r.getMessage() for r in caplog.records)
    assert any(BUILTIN_CID_FONT in name for name in _font_names(pdf))


def test_configured_font_paths_come_first_and_missing_ones_are_ignored(faces: tuple[Face, ...]) -> None:
    assert find_faces([Path("/nonexistent/font.ttf")]) == faces
    for face in faces:
        if face.path.suffix == ".ttc":  # of a collection, the simplified-Chinese face, not JP or Mono
            assert " SC" in face.label and "Mono" not in face.label, face
    last = faces[-1].path
    assert find_faces([last])[0].path == last  # a configured file is tried first


def test_qr_code_carries_the_verification_url(faces: tuple[Face, ...]) -> None:
    content = person_content()
    stamp = _stamp(content)
    assert stamp.verify_url.endswith(codes.display(stamp.code))
    pdf = render(content, stamp, faces)
    assert stamp.verify_url in _text(pdf)


def test_signature_validates_and_an_edited_byte_breaks_it(faces: tuple[Face, ...], identity: SigningIdentity) -> None:
    content = person_content()
    signed = asyncio.run(
        sign_pdf(render(content, _stamp(content), faces), identity, reason="参保证明", location="示例市")
    )
    good = asyncio.run(check_pdf(signed, identity.certificate_der))
    assert good.ok, good
    # Edit the signed bytes: one byte inside the page's content stream.
    start = signed.index(b"stream\n", signed.index(b"/Contents")) + len(b"stream\n")
    edited = bytearray(signed)
    edited[start + 40] ^= 0x01
    bad = asyncio.run(check_pdf(bytes(edited), identity.certificate_der))
    assert bad.present and not bad.intact and not bad.ok
    # Another signer's certificate is not trusted.
    other = new_identity(NOW, "冒充机构")
    assert not asyncio.run(check_pdf(signed, other.certificate_der)).trusted


def test_a_revision_appended_after_signing_is_flagged(faces: tuple[Face, ...], identity: SigningIdentity) -> None:
    content = person_content()
    signed = asyncio.run(
        sign_pdf(render(content, _stamp(content), faces), identity, reason="参保证明", location="示例市")
    )
    # What an editor does: a new revision that paints over the page (here a white box and new text).
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    overlay = generic.StreamObject(stream_data=b"q 1 1 1 rg 50 600 300 40 re f Q BT /F1 12 Tf 60 610 Td (9999) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(overlay))  # type: ignore[no-untyped-call]  # unannotated in pyHanko
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # unannotated in pyHanko
    check = asyncio.run(check_pdf(out.getvalue(), identity.certificate_der))
    assert check.intact  # the signed revision itself is untouched ...
    assert not check.covers_document and not check.ok  # ... but the document was changed after signing


def test_unsigned_or_garbage_input_is_not_valid(faces: tuple[Face, ...], identity: SigningIdentity) -> None:
    content = person_content()
    unsigned = render(content, _stamp(content), faces)
    assert not asyncio.run(check_pdf(unsigned, identity.certificate_der)).present
    assert not asyncio.run(check_pdf(b"%PDF-1.4 not really", identity.certificate_der)).ok
