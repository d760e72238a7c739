"""Appending to an audit chain from synchronous code (the identity services run in worker threads).

A record joins the caller's transaction: it is durable exactly when the change it describes commits,
and disappears with its rollback. The chain head is read from the table under a transaction-level
advisory lock on the chain, so concurrent transactions take turns and a rolled-back one leaves no gap;
``hub audit verify`` checks these chains like the web processes' own.
"""

from __future__ import annotations

import secrets
import socket
from datetime import datetime
from typing import Any

import psycopg

from hub.audit.chain import GENESIS, Entry, Record, link
from hub.audit.writer import INSERT

# One chain per process for the synchronous writers, apart from the web chain of ``AuditLog``.
CHAIN_ID = f"{socket.gethostname()[:40]}-sync-{secrets.token_hex(6)}"


def append(conn: psycopg.Connection[Any], entry: Entry, *, chain_id: str = CHAIN_ID) -> Record:
    """Add ``entry`` to ``chain_id`` inside the caller's transaction. Never commits."""
    conn.execute(
        "insert into hub.audit_chain (chain_id, host) values (%s, %s) on conflict do nothing",
        (chain_id, socket.gethostname()[:64]),
    )
    conn.execute("select pg_advisory_xact_lock(hashtextextended('hub.audit_chain:' || %s, 0))", (chain_id,))
    row = conn.execute(
        "select seq, hash from hub.audit_log where chain_id = %s order by seq desc limit 1", (chain_id,)
    ).fetchone()
    seq, head = (int(row[0]), bytes(row[1])) if row else (0, GENESIS)
    record = link(chain_id, seq + 1, entry, head)
    conn.execute(INSERT, record.row())
    return record


def event(
    conn: psycopg.Connection[Any],
    action: str,
    result: str,
    *,
    at: datetime,
    actor_kind: str,
    actor: str,
    target_type: str = "account",
    target_id: str = "",
    purpose: str = "identity",
    ip: str | None = None,
    request_id: str = "",
    client_id: str = "",
    channel: str = "",
) -> Record:
    """One identity or administration event (login, registration, role grant, key rotation …)."""
    return append(
        conn,
        Entry(
            at=at,
            request_id=request_id,
            actor_kind=actor_kind,
            actor=actor,
            client_id=client_id,
            channel=channel,
            action=action,
            target_type=target_type,
            target_id=target_id,
            purpose=purpose,
            result=result,
            ip=ip,
        ),
    )
