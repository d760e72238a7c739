"""Supporting documents stored in the hub DB, sealed at rest: declaration attachments and objection evidence.

A declaration's 证明材料 (``hub.declaration_attachment``) and the evidence of a 权益记录核查 objection
(``hub.record_objection_file``) are scans of ID cards, household registers and pay slips. Their bytes are
kept as one SM4-GCM envelope each (``content_enc``, ``data_enc``; the format of ``hub.crypto.fields``),
bound to the row: ``hub.declaration_attachment.content:<id>``, ``hub.record_objection_file.data:<id>``. An
envelope copied into another row does not open.

The digests (SHA-256 and SM3 of an attachment, SHA-256 of an objection file) stay as they were, over the
plaintext: every read checks the opened bytes against them (``FileDamaged`` otherwise), so the core's
check of the forwarded document and a download check the same thing.

The old plaintext columns (``content``, ``data``) stay for the previous release (expand-only migration
``0027_sealed_files``), nullable; new rows leave them null, and the data step (``seal_leftovers``: web
start, ``hub keys seal``) seals and empties the old rows in small batches. ``hub keys rotate`` re-seals the
envelopes (registered columns, at most ``MAX_BATCH`` rows per transaction: files are large).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes

from hub.crypto import keys, ring
from hub.crypto.fields import Keyring, Kind
from hub.crypto.rotation import HUB, EncryptedColumn, register, register_data_step, seal_in_batches
from hub.crypto.sm import SealBroken
from hub.errors import InternalError

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

# A file may be several MB (``HUB_DECLARATIONS__ATTACHMENT_MAX_BYTES``): re-seal and seal few per transaction.
MAX_BATCH = 8

ATTACHMENT = register(
    EncryptedColumn(
        "hub.declaration_attachment",
        "content_enc",
        ("id",),
        "hub.declaration_attachment.content",
        kind=Kind.DOCUMENT,
        max_batch=MAX_BATCH,
    )
)
OBJECTION_FILE = register(
    EncryptedColumn(
        "hub.record_objection_file",
        "data_enc",
        ("id",),
        "hub.record_objection_file.data",
        kind=Kind.DOCUMENT,
        max_batch=MAX_BATCH,
    )
)

# column -> its old plaintext column (emptied by the data step; ``seal_plaintext`` would treat it as text).
PLAINTEXT = {ATTACHMENT: "content", OBJECTION_FILE: "data"}


class FileDamaged(InternalError):
    """A stored file whose bytes do not match their digests (or whose envelope does not open)."""

    def __init__(self) -> None:
        super().__init__("文件校验失败（文件已损坏或被改动），暂不能下载，请联系系统管理员")


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def next_id(conn: Conn, column: EncryptedColumn) -> int:
    """A new row id of ``column``'s table, taken before the insert (the envelope is bound to it)."""
    found = conn.execute("select nextval(pg_get_serial_sequence(%s, 'id'))", (column.table,)).fetchone()
    assert found is not None
    return int(found[0])


def seal(conn: Conn, column: EncryptedColumn, row_id: int, data: bytes) -> bytes:
    """The envelope of ``data`` in the row ``row_id`` (the hub DB's first keys made in the caller's transaction)."""
    return ring.for_writing(conn, keys.HUB_TABLE).seal_bytes(data, column.context((row_id,)))


def opened(
    conn: Conn,
    column: EncryptedColumn,
    row_id: int,
    envelope: Any,
    plain: Any,
    *,
    sha256: bytes | str,
    sm3_digest: bytes | str | None = None,
) -> bytes:
    """The bytes of one stored file, checked against its digests (``FileDamaged`` when they differ).

    ``envelope`` is opened when there is one; a row the data step has not sealed yet gives its plaintext.
    Digests are raw bytes or hex text.
    """
    try:
        if envelope is not None:
            keyring = ring.for_reading(conn, keys.HUB_TABLE, [bytes(envelope)])
            if keyring is None:
                raise SealBroken(f"no keys to open {column.context_prefix}")
            data = keyring.open_bytes(bytes(envelope), column.context((row_id,)))
        elif plain is not None:
            data = bytes(plain)
        else:
            raise SealBroken(f"{column.context_prefix}:{row_id} holds no file")
    except SealBroken as exc:
        log.error("stored file %s:%s does not open: %s", column.context_prefix, row_id, exc)
        raise FileDamaged() from exc
    wanted = [(hashlib.sha256(data).digest(), sha256)]
    if sm3_digest is not None:
        wanted.append((sm3(data), sm3_digest))
    for actual, stored in wanted:
        expected = bytes.fromhex(stored) if isinstance(stored, str) else bytes(stored)
        if actual != expected:
            log.error("stored file %s:%s does not match its digest", column.context_prefix, row_id)
            raise FileDamaged()
    return data


# The data step -------------------------------------------------------------------------------------


def _step(conn: Conn, keyring: Keyring, batch: int, column: EncryptedColumn) -> int:
    plain = PLAINTEXT[column]
    return seal_in_batches(
        conn, column.table, "id", plain, f"{column.column} = %s, {plain} = null", min(batch, MAX_BATCH),
        lambda row_id, data: (keyring.seal_bytes(bytes(data), column.context((row_id,))),),
    )  # fmt: skip


def seal_leftovers(conn: Conn, keyring: Keyring, batch: int = MAX_BATCH) -> int:
    """Seal the files the old plaintext columns still hold and empty those, in small batches; returns the files
    sealed. Commits per batch; safe to run again and beside running writers (``for update skip locked``)."""
    return _step(conn, keyring, batch, ATTACHMENT) + _step(conn, keyring, batch, OBJECTION_FILE)


register_data_step(HUB, seal_leftovers)
