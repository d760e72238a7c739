"""消息通知: each person's app inbox, with unread counts and mark-as-read.

Senders (the unified push service, business events) call ``deliver`` inside their own transaction; a
``source_key`` makes a repeated delivery of the same event a no-op. A person reads and marks only their
own messages: another person's message id answers exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from hub.errors import NotFound, ValidationFailed
from hub.persons import paging


class MessageKind(StrEnum):
    BUSINESS = "business"  # 业务办结
    PAYMENT = "payment"  # 待遇发放
    CARD = "card"  # 社保卡状态
    POLICY = "policy"  # 政策提醒
    SYSTEM = "system"  # 系统通知


class MessageRead(BaseModel):
    id: int
    kind: MessageKind
    title: str
    body: str
    link: str | None = Field(description="应用内跳转地址（可为空）")
    created_at: datetime
    read: bool


def deliver(
    conn: psycopg.Connection[Any],
    person_id: int,
    kind: MessageKind,
    title: str,
    body: str,
    *,
    now: datetime,
    link: str | None = None,
    source_key: str | None = None,
) -> int | None:
    """Put a message in ``person_id``'s inbox; returns its id, or None when ``source_key`` was delivered
    already. Never commits (the sender's transaction decides). Raises ValidationFailed for an empty or
    over-long title (60) or body (2,000)."""
    title, body = title.strip(), body.strip()
    if not 1 <= len(title) <= 60:
        raise ValidationFailed("消息标题应为1到60个字")
    if not 1 <= len(body) <= 2000:
        raise ValidationFailed("消息内容应为1到2000个字")
    row = conn.execute(
        "insert into hub.inbox_message (person_id, kind, title, body, link, source_key, created_at) "
        "values (%s, %s, %s, %s, %s, %s, %s) on conflict (person_id, source_key) do nothing returning id",
        (person_id, MessageKind(kind).value, title, body, link, source_key, now),
    ).fetchone()
    return int(row[0]) if row else None


async def list_messages(
    conn: AsyncConnection[Any], person_id: int, *, unread_only: bool = False, cursor: str | None = None, limit: int
) -> tuple[list[MessageRead], str | None]:
    """The person's messages, newest first, keyset-paged by id."""
    after = paging.decode(cursor, 1)
    if after is not None and not 0 <= after[0] < 2**62:
        raise ValidationFailed("分页游标无效")
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "select id, kind, title, body, link, created_at, read_at is not null as read from hub.inbox_message "
        "where person_id = %(p)s and (%(after)s::bigint is null or id < %(after)s) "
        "and (not %(unread)s or read_at is null) order by id desc limit %(n)s",
        {"p": person_id, "after": after[0] if after else None, "unread": unread_only, "n": limit + 1},
    )
    rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return [MessageRead.model_validate(r) for r in rows], (paging.encode(rows[-1]["id"]) if more else None)


async def unread_count(conn: AsyncConnection[Any], person_id: int) -> int:
    cur = await conn.execute(
        "select count(*) from hub.inbox_message where person_id = %s and read_at is null", (person_id,)
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def mark_read(conn: AsyncConnection[Any], person_id: int, message_id: int, *, now: datetime) -> None:
    """Mark one of the person's messages read (idempotent). NotFound for a message not theirs."""
    cur = await conn.execute(
        "update hub.inbox_message set read_at = coalesce(read_at, %s) where id = %s and person_id = %s",
        (now, message_id, person_id),
    )
    if cur.rowcount == 0:
        raise NotFound("消息不存在")


async def mark_all_read(conn: AsyncConnection[Any], person_id: int, *, now: datetime) -> int:
    """Mark every unread message of the person read; returns how many changed."""
    cur = await conn.execute(
        "update hub.inbox_message set read_at = %s where person_id = %s and read_at is null", (now, person_id)
    )
    return cur.rowcount
