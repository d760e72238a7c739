"""Rendering a certificate to PDF with reportlab: the content, a QR code (segno) with the verification
URL, the verification code and the expiry. Signing is a separate step (``signing.sign_pdf``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import segno
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from hub.certificates import codes
from hub.certificates.content import Content, Table, date_text
from hub.certificates.fonts import DocumentFonts, Face, prepare

SHANGHAI = ZoneInfo("Asia/Shanghai")
MARGIN = 56.0
PAGE_W, PAGE_H = A4


@dataclass(frozen=True)
class Stamp:
    """What the hub adds to the content: number, issue time, expiry, code and where to verify."""

    certificate_id: str
    issued_at: datetime
    expires_at: datetime
    code: str
    verify_url: str
    issuer: str


def verify_link(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/{code}"


def text_of(content: Content, stamp: Stamp) -> str:
    """Every character the page will show (what the fonts must cover)."""
    parts = [content.title, stamp.issuer, stamp.certificate_id, codes.display(stamp.code), stamp.verify_url]
    parts += [f"{line.label}：{line.value}" for line in content.lines]
    for table in content.tables:
        parts += [table.title, *table.headers, *(cell for row in table.rows for cell in row)]
    parts += list(content.notes)
    parts += _footer_lines(stamp)
    return "".join(parts)


def _footer_lines(stamp: Stamp) -> list[str]:
    issued = stamp.issued_at.astimezone(SHANGHAI)
    expires = stamp.expires_at.astimezone(SHANGHAI)
    return [
        f"证明编号：{stamp.certificate_id}",
        f"验证码：{codes.display(stamp.code)}",
        f"出具日期：{date_text(issued.date())}　有效期至：{date_text(expires.date())}",
        "核验方式：扫描二维码，或访问下方网址输入验证码。",
        stamp.verify_url,
        "本证明经电子签章，任何改动均使签章失效；核验页面显示的内容与本证明不符的，本证明无效。",
    ]


class _Page:
    def __init__(self, canvas: Canvas, fonts: DocumentFonts) -> None:
        self.c = canvas
        self.fonts = fonts

    def text(self, x: float, y: float, text: str, size: float, align: str = "left") -> None:
        width = self.fonts.width(text, size)
        if align == "center":
            x -= width / 2
        elif align == "right":
            x -= width
        for name, part in self.fonts.runs(text):
            self.c.setFont(name, size)
            self.c.drawString(x, y, part)
            x += self.c.stringWidth(part, name, size)

    def fit(self, text: str, size: float, width: float) -> float:
        """The largest size up to ``size`` at which ``text`` fits ``width``."""
        actual = self.fonts.width(text, size)
        return size if actual <= width or actual == 0 else max(5.0, size * width / actual)


def _table(page: _Page, table: Table, y: float) -> float:
    size = 9.0
    width = PAGE_W - 2 * MARGIN
    cells = [table.headers, *table.rows]
    natural = [max(page.fonts.width(row[i], size) for row in cells) + 8 for i in range(len(table.headers))]
    scale = width / sum(natural)
    widths = [w * scale for w in natural]
    page.text(MARGIN, y, table.title, 11)
    y -= 8
    row_h = 18.0
    for r, row in enumerate(cells):
        top = y
        y -= row_h
        x = MARGIN
        page.c.setLineWidth(0.5)
        page.c.rect(MARGIN, y, width, row_h, stroke=1, fill=0)
        for i, cell in enumerate(row):
            if i:
                page.c.line(x, y, x, top)
            cell_size = page.fit(cell, size, widths[i] - 6)
            page.text(x + widths[i] / 2, y + 6, cell, cell_size if r else min(cell_size, size), align="center")
            x += widths[i]
        if y < 230 and r < len(cells) - 1:
            page.c.showPage()
            y = PAGE_H - MARGIN
    return y - 20


def _qr(page: _Page, data: str, x: float, y: float, size: float) -> None:
    qr = segno.make(data, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix) + 8  # quiet zone of four modules on each side
    module = size / n
    page.c.setFillGray(0)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                page.c.rect(x + (col + 4) * module, y + size - (r + 5) * module, module, module, stroke=0, fill=1)


def render(content: Content, stamp: Stamp, faces: Sequence[Face]) -> bytes:
    """The certificate as PDF bytes (unsigned)."""
    fonts = prepare(text_of(content, stamp), faces)
    try:
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=A4, invariant=1, pageCompression=1)
        canvas.setTitle(f"{content.title} {stamp.certificate_id}")
        canvas.setAuthor(stamp.issuer)
        canvas.setSubject(content.title)
        page = _Page(canvas, fonts)
        y = PAGE_H - MARGIN - 10
        page.text(PAGE_W / 2, y, content.title, 20, align="center")
        y -= 22
        page.text(PAGE_W / 2, y, stamp.issuer, 10, align="center")
        y -= 30
        for line in content.lines:
            page.text(MARGIN, y, f"{line.label}：", 11)
            page.text(MARGIN + 110, y, line.value, 11)
            y -= 20
        y -= 10
        for table in content.tables:
            y = _table(page, table, y)
        for note in content.notes:
            page.text(MARGIN, y, note, 10)
            y -= 16
        # Footer: verification block with the QR code on the right.
        qr_size = 110.0
        _qr(page, stamp.verify_url, PAGE_W - MARGIN - qr_size, MARGIN, qr_size)
        fy = MARGIN + qr_size - 12
        for footer in _footer_lines(stamp):
            page.text(MARGIN, fy, footer, page.fit(footer, 9, PAGE_W - 2 * MARGIN - qr_size - 10))
            fy -= 15
        canvas.showPage()
        canvas.save()
        return out.getvalue()
    finally:
        fonts.release()
