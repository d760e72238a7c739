"""Supporting documents (证明材料: PDF, JPEG or PNG scans) attached to a declaration.

A unit operator attaches a file to a draft, a declaration returned for correction, or a submission no
reviewer has claimed yet, and removes it while that still holds; once a reviewer holds the declaration
its documents are fixed. The type is decided by the content, never by the name: the magic bytes and a
structural check (PDF header, ``%%EOF`` trailer and no active content — JavaScript, launch actions,
embedded files — also inside object streams; JPEG SOI, a frame header before the scan and EOI; PNG
signature, a valid IHDR chunk and IEND). Anything else (a renamed program, HTML, SVG, …) is refused.

Size, count and the declaration's total are limited by settings (``HUB_DECLARATIONS__ATTACHMENT_…``).
The bytes are stored in the hub DB sealed (one SM4-GCM envelope bound to the row, ``hub.crypto.files``) with
their SHA-256 and SM3 digests over the plaintext, in the caller's transaction together with an audit record; a
refusal raises before anything is written. Reading the bytes is for whoever may see the declaration (its unit,
agency staff of its 统筹区), is audited, and checks the opened bytes against both digests.

Forwarding to the core: the documents travel inline (base64) in the declaration's command with their
metadata and digests, and the core checks the digests and files them in its 电子档案 (``core.archive``).
Inline keeps the core independent of the hub (it never calls back) and the command self-contained for
retries; the command stays bounded because a declaration's documents together never exceed
``attachment_max_total_bytes`` (checked here on every attach).
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.access.subject import Subject
from hub.audit import sync_writer as audit
from hub.crypto import files
from hub.declarations import access, records
from hub.declarations.config import DeclarationSettings
from hub.declarations.records import Declaration
from hub.declarations.states import Status
from hub.errors import HubError, NotFound, PayloadTooLarge, ValidationFailed

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
LABELS = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}
MAX_NAME = 120
UNSUPPORTED = "文件类型不支持（仅限 PDF、JPEG、PNG）"
# Object streams are decompressed (to look for hidden actions) up to this many bytes each.
MAX_OBJECT_STREAM = 8 << 20


class AttachmentRefused(ValidationFailed):
    type = "https://hub.example.gov.cn/problems/attachment-refused"
    title = "附件不符合要求"

    def __init__(self, detail: str, code: str) -> None:
        HubError.__init__(self, detail, code=code)  # ``code`` names the check that refused (kept in the audit)


class AttachmentTooLarge(PayloadTooLarge):
    type = "https://hub.example.gov.cn/problems/attachment-too-large"
    title = "文件过大"


def mb(n: int) -> str:
    """A byte count as shown to users (5 MB, 512 KB)."""
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n // 1024} KB"


# Type by content ------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# PDF names may spell letters as #xx escapes (/J#61vaScript); they are decoded before the search.
PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA|SubmitForm|ImportData)(?![A-Za-z])")
PDF_OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm(?![A-Za-z])")
PDF_STREAM = re.compile(rb"\bstream\r?\n")


def _pdf_active(data: bytes) -> bool:
    def active(chunk: bytes) -> bool:
        return PDF_ACTIVE.search(PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), chunk)) is not None

    if active(data):
        return True
    # Dictionaries may hide in compressed object streams (PDF 1.5); inflate those (bounded) and look again.
    # An object stream that cannot be read this way is refused like active content: it could hide some.
    for match in PDF_OBJECT_STREAM.finditer(data):
        opened = PDF_STREAM.search(data, match.end())
        end = data.find(b"endstream", opened.end()) if opened else -1
        if opened is None or end < 0:
            return True
        inflater = zlib.decompressobj()
        try:
            inner = inflater.decompress(data[opened.end() : end], MAX_OBJECT_STREAM)
        except zlib.error:
            return True
        if inflater.unconsumed_tail or active(inner):
            return True
    return False


def _pdf(data: bytes) -> str:
    if not data.startswith(b"%PDF-") or len(data) < 64:
        raise AttachmentRefused(UNSUPPORTED, code="type")
    tail = data[-1024:]
    if b"%%EOF" not in tail or b"startxref" not in tail:
        raise AttachmentRefused("PDF 文件不完整或已损坏，请重新扫描后上传", code="broken")
    if _pdf_active(data):
        raise AttachmentRefused(
            "PDF 文件含有脚本、嵌入文件或启动程序等活动内容，请另存为普通 PDF 后上传", code="active"
        )
    return PDF


SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg(data: bytes) -> str:
    broken = AttachmentRefused("JPEG 文件不完整或已损坏，请重新扫描后上传", code="broken")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise broken
    i, frame = 2, False
    while True:
        if i + 4 > len(data) or data[i] != 0xFF:
            raise broken
        while i < len(data) and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= len(data):
            raise broken
        marker = data[i]
        i += 1
        if marker in STANDALONE:
            continue
        if marker in (0xD8, 0xD9):
            raise broken  # a second SOI, or EOI before any scan
        if i + 2 > len(data):
            raise broken
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > len(data):
            raise broken
        if marker in SOF_MARKERS:  # length, precision, height, width (non-zero), components
            if length < 8 or int.from_bytes(data[i + 5 : i + 7], "big") == 0:
                raise broken
            frame = True
        if marker == 0xDA:  # start of scan: the entropy-coded data follows up to EOI
            if not frame:
                raise broken
            return JPEG
        i += length


def _png(data: bytes) -> str:
    broken = AttachmentRefused("PNG 文件不完整或已损坏，请重新扫描后上传", code="broken")
    if len(data) < 8 + 25 + 12 or data[8:16] != b"\x00\x00\x00\rIHDR":
        raise broken
    ihdr = data[16:29]
    crc = int.from_bytes(data[29:33], "big")
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    if zlib.crc32(b"IHDR" + ihdr) != crc or width == 0 or height == 0 or ihdr[8] not in (1, 2, 4, 8, 16):
        raise broken
    if not data.endswith(PNG_IEND):
        raise broken
    return PNG


def sniff(data: bytes) -> str:
    """The media type of ``data`` (PDF, JPEG or PNG) decided by its content; refuses anything else."""
    if not data:
        raise AttachmentRefused("文件为空，请重新选择", code="empty")
    if data.startswith(b"%PDF-"):
        return _pdf(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    raise AttachmentRefused(UNSUPPORTED, code="type")


def clean_name(filename: str, media_type: str) -> str:
    """A display name: the last path part, no control characters, at most ``MAX_NAME`` characters, with
    the extension of the detected type (the name never decides how the file is served)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C").strip()
    stem = base.rsplit(".", 1)[0].strip(" .") if "." in base else base.strip(" .")
    ext = EXTENSIONS[media_type]
    stem = stem[: MAX_NAME - len(ext) - 1] or "附件"
    return f"{stem}.{ext}"


def sm3(data: bytes) -> bytes:
    return files.sm3(data)


# Records --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    id: int
    declaration_id: int
    filename: str
    media_type: str
    size: int
    sha256: str  # hex
    sm3: str  # hex
    uploaded_by: str
    uploaded_at: datetime

    @property
    def type_label(self) -> str:
        return LABELS.get(self.media_type, self.media_type)

    @property
    def size_text(self) -> str:
        return mb(self.size) if self.size >= 1024 else f"{self.size} 字节"


META = "id, declaration_id, filename, media_type, size, sha256, sm3, uploaded_by, uploaded_at"


def _row(r: tuple[Any, ...]) -> Attachment:
    return Attachment(
        int(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4]), bytes(r[5]).hex(), bytes(r[6]).hex(), str(r[7]), r[8]
    )


def _visible(conn: psycopg.Connection[Any], subject: Subject, declaration_id: int, *, lock: bool) -> Declaration:
    decl = records.fetch(conn, declaration_id, lock=lock)
    if decl is None or not access.may_see(subject, decl.unit_id, decl.region_code):
        raise NotFound()
    return decl


def editable(decl: Declaration) -> bool:
    """Documents may change on a draft, a returned declaration, or a submission nobody has claimed."""
    return decl.status in (Status.DRAFT, Status.RETURNED) or (
        decl.status is Status.SUBMITTED and decl.claimed_by is None
    )


def _require_editable(decl: Declaration) -> None:
    if decl.status is Status.SUBMITTED and decl.claimed_by is not None:
        raise AttachmentRefused(
            "申报已由经办机构受理审核，不能再添加或删除附件；如需补充材料请联系经办机构退回", code="state"
        )
    if not editable(decl):
        raise AttachmentRefused(f"申报当前状态为“{decl.status.label}”，不能再添加或删除附件", code="state")


def _audit(
    conn: psycopg.Connection[Any], subject: Subject, action: str, at: datetime, declaration_id: int, attachment_id: int
) -> None:
    audit.event(
        conn,
        f"declaration.attachment.{action}",
        "ok",
        at=at,
        actor_kind=subject.kind.value,
        actor=subject.account_id,
        target_type="declaration_attachment",
        target_id=f"{declaration_id}/{attachment_id}",
        purpose="declaration",
        client_id=subject.client_id,
        channel=subject.channel.value,
    )


def attach(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    filename: str,
    data: bytes,
    settings: DeclarationSettings,
    *,
    now: datetime | None = None,
) -> Attachment:
    """Store ``data`` as a document of the caller's declaration (within the caller's transaction).

    Raises ``AttachmentTooLarge`` (413) over the size or total limit, ``AttachmentRefused`` (422) for a
    type other than PDF, JPEG or PNG, a damaged file, active PDF content, the count limit or a state that
    no longer allows changes; nothing is written then.
    """
    access.require_unit_operator(subject)
    if len(data) > settings.attachment_max_bytes:
        raise AttachmentTooLarge(f"文件过大：单个附件不能超过 {mb(settings.attachment_max_bytes)}", code="size")
    media_type = sniff(data)
    decl = _visible(conn, subject, declaration_id, lock=True)  # the lock serialises concurrent attaches
    _require_editable(decl)
    row = conn.execute(
        "select count(*), coalesce(sum(size), 0) from hub.declaration_attachment where declaration_id = %s",
        (decl.id,),
    ).fetchone()
    count, total = (int(row[0]), int(row[1])) if row else (0, 0)
    if count >= settings.attachment_max_count:
        raise AttachmentRefused(f"附件数量超过上限：每件申报最多 {settings.attachment_max_count} 个附件", code="count")
    if total + len(data) > settings.attachment_max_total_bytes:
        raise AttachmentTooLarge(
            f"附件总大小超过上限：每件申报的附件合计不能超过 {mb(settings.attachment_max_total_bytes)}", code="total"
        )
    at = now or datetime.now(UTC)
    attachment_id = files.next_id(conn, files.ATTACHMENT)
    stored = conn.execute(
        "insert into hub.declaration_attachment (id, declaration_id, filename, media_type, size, sha256, sm3, "
        f"content_enc, uploaded_by, uploaded_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning {META}",
        (
            attachment_id,
            decl.id,
            clean_name(filename, media_type),
            media_type,
            len(data),
            hashlib.sha256(data).digest(),
            sm3(data),
            files.seal(conn, files.ATTACHMENT, attachment_id, data),
            subject.account_id,
            at,
        ),
    ).fetchone()
    assert stored is not None
    attachment = _row(stored)
    _audit(conn, subject, "add", at, decl.id, attachment.id)
    return attachment


def remove(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    attachment_id: int,
    *,
    now: datetime | None = None,
) -> None:
    """Delete a document of the caller's declaration while documents may still change."""
    access.require_unit_operator(subject)
    decl = _visible(conn, subject, declaration_id, lock=True)
    _require_editable(decl)
    gone = conn.execute(
        "delete from hub.declaration_attachment where id = %s and declaration_id = %s returning id",
        (attachment_id, decl.id),
    ).fetchone()
    if gone is None:
        raise NotFound()
    _audit(conn, subject, "remove", now or datetime.now(UTC), decl.id, attachment_id)


def list_for(conn: psycopg.Connection[Any], subject: Subject, declaration_id: int) -> list[Attachment]:
    """The documents of a declaration the caller may see, in the order they were attached."""
    decl = _visible(conn, subject, declaration_id, lock=False)
    rows = conn.execute(
        f"select {META} from hub.declaration_attachment where declaration_id = %s order by id", (decl.id,)
    ).fetchall()
    return [_row(r) for r in rows]


SEALED = "content_enc, content"  # the envelope, and the plaintext of a row the data step has not sealed yet


def _content(conn: psycopg.Connection[Any], attachment: Attachment, envelope: Any, plain: Any) -> bytes:
    """The document's bytes, opened and checked against its SHA-256 and SM3 digests."""
    return files.opened(
        conn, files.ATTACHMENT, attachment.id, envelope, plain, sha256=attachment.sha256, sm3_digest=attachment.sm3
    )


def read(
    conn: psycopg.Connection[Any],
    subject: Subject,
    declaration_id: int,
    attachment_id: int,
    *,
    now: datetime | None = None,
) -> tuple[Attachment, bytes]:
    """One document with its bytes, for whoever may see the declaration; the read is audited (the caller
    commits). Another 统筹区's or unit's declaration answers like a missing one."""
    decl = _visible(conn, subject, declaration_id, lock=False)
    row = conn.execute(
        f"select {META}, {SEALED} from hub.declaration_attachment where id = %s and declaration_id = %s",
        (attachment_id, decl.id),
    ).fetchone()
    if row is None:
        raise NotFound()
    attachment = _row(row[:-2])
    content = _content(conn, attachment, row[-2], row[-1])
    _audit(conn, subject, "read", now or datetime.now(UTC), decl.id, attachment_id)
    return attachment, content


def for_command(conn: psycopg.Connection[Any], declaration_id: int) -> list[dict[str, Any]]:
    """The documents as they travel in the declaration's core command: metadata, digests, base64 bytes."""
    rows = conn.execute(
        f"select {META}, {SEALED} from hub.declaration_attachment where declaration_id = %s order by id",
        (declaration_id,),
    ).fetchall()
    out = []
    for r in rows:
        a = _row(r[:-2])
        out.append(
            {
                "attachment_id": a.id,
                "filename": a.filename,
                "media_type": a.media_type,
                "size": a.size,
                "sha256": a.sha256,
                "sm3": a.sm3,
                "content_base64": base64.b64encode(_content(conn, a, r[-2], r[-1])).decode("ascii"),
            }
        )
    return out
