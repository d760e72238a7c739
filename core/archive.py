"""The core's 电子档案: supporting documents forwarded with a command, as the source system's electronic
archive interface received them.

The hub sends a declaration's documents inline in its command (metadata, SHA-256 and SM3 digests,
base64 bytes; the hub caps a declaration's total). The core checks every digest against the bytes
before it applies the command and files them in ``core.archive_file`` in the applying transaction, so a
command's documents are on file exactly when its effect is; a damaged document refuses the command.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes

from core.service import CoreError

MEDIA_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


@dataclass(frozen=True)
class ArchiveFile:
    source_id: int  # the hub's attachment id
    filename: str
    media_type: str
    size: int
    sha256: str  # hex
    sm3: str  # hex
    content: bytes


def _sm3(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def check(f: ArchiveFile) -> None:
    """Refuse a document whose type is not accepted or whose bytes do not match its size and digests."""
    if f.media_type not in MEDIA_TYPES:
        raise CoreError(f"附件类型不受理：{f.filename}")
    data = f.content
    if len(data) != f.size or hashlib.sha256(data).hexdigest() != f.sha256.lower() or _sm3(data) != f.sm3.lower():
        raise CoreError(f"附件校验值不一致：{f.filename}")


def file(
    conn: psycopg.Connection[Any], command_id: uuid.UUID, unit_id: int, reference: str, files: tuple[ArchiveFile, ...]
) -> int:
    """Check and store the documents of a command (inside the caller's transaction); returns how many."""
    for f in files:
        check(f)
    for f in files:
        conn.execute(
            "insert into core.archive_file (command_id, aab001, reference, source_id, filename, media_type, size, "
            "sha256, sm3, content) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                command_id,
                unit_id,
                reference[:40],
                f.source_id,
                f.filename[:120],
                f.media_type,
                f.size,
                bytes.fromhex(f.sha256),
                bytes.fromhex(f.sm3),
                f.content,
            ),
        )
    return len(files)


def listing(conn: psycopg.Connection[Any], command_id: uuid.UUID) -> list[dict[str, Any]]:
    """What was filed for a command: metadata and digests, without the bytes."""
    rows = conn.execute(
        "select source_id, filename, media_type, size, sha256, sm3, received_at from core.archive_file "
        "where command_id = %s order by source_id",
        (command_id,),
    ).fetchall()
    return [
        {
            "attachment_id": int(r[0]),
            "filename": r[1],
            "media_type": r[2],
            "size": int(r[3]),
            "sha256": bytes(r[4]).hex(),
            "sm3": bytes(r[5]).hex(),
            "received_at": r[6].isoformat(),
        }
        for r in rows
    ]
