"""政策资讯, 热点新闻 and 机构介绍: staff create, edit, publish and withdraw; the public reads what is published.

Every write keeps the text of each revision (``hub.content_revision``) and leaves one audit record in
the same transaction, so the history of what the public was shown can be reconstructed. States:
draft → published → withdrawn (→ published again); an edit of a published item is visible at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from hub.access.subject import StaffRole, Subject
from hub.content import staff
from hub.errors import Conflict, NotFound, ValidationFailed
from hub.persons import paging

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Kind(StrEnum):
    POLICY = "policy"  # 政策资讯
    NEWS = "news"  # 热点新闻
    AGENCY_INTRO = "agency_intro"  # 机构介绍


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class ContentDraft(BaseModel):
    title: str
    summary: str = ""
    body: str


class ContentSummary(BaseModel):
    id: int
    kind: Kind
    title: str
    summary: str
    published_at: datetime | None = Field(description="发布时间（UTC）")


class ContentRead(ContentSummary):
    body: str
    revision: int


class ContentAdmin(ContentRead):
    status: Status


def _validate(draft: ContentDraft) -> ContentDraft:
    title, summary, body = draft.title.strip(), draft.summary.strip(), draft.body.strip()
    if not 1 <= len(title) <= 100:
        raise ValidationFailed("标题应为1到100个字")
    if len(summary) > 200:
        raise ValidationFailed("摘要不能超过200字")
    if not 1 <= len(body) <= 20000:
        raise ValidationFailed("正文应为1到20000个字")
    return ContentDraft(title=title, summary=summary, body=body)


def _row(conn: psycopg.Connection[Any], item_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(
        "select id, kind, title, summary, body, status, revision, published_at from hub.content_item "
        "where id = %s for update",
        (item_id,),
    ).fetchone()
    if row is None:
        raise NotFound("内容不存在")
    return row


def _revision(conn: psycopg.Connection[Any], item_id: int, revision: int, draft: ContentDraft, actor: Subject,
              now: datetime) -> None:  # fmt: skip
    conn.execute(
        "insert into hub.content_revision (item_id, revision, title, summary, body, at, by_account) "
        "values (%s, %s, %s, %s, %s, %s, %s)",
        (item_id, revision, draft.title, draft.summary, draft.body, now, actor.account_id),
    )


def create(conn: psycopg.Connection[Any], actor: Subject, kind: Kind, draft: ContentDraft, *, now: datetime) -> int:
    """A new draft; returns its id. Staff operator only; audited; never commits."""
    staff.require_role(actor, StaffRole.OPERATOR)
    d = _validate(draft)
    row = conn.execute(
        "insert into hub.content_item (kind, title, summary, body, created_at, created_by, updated_at) "
        "values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (kind.value, d.title, d.summary, d.body, now, actor.account_id, now),
    ).fetchone()
    assert row is not None
    item_id = int(row[0])
    _revision(conn, item_id, 1, d, actor, now)
    staff.event(conn, actor, "content.create", "content", str(item_id), now)
    return item_id


def edit(conn: psycopg.Connection[Any], actor: Subject, item_id: int, draft: ContentDraft, *, now: datetime) -> int:
    """Replace title, summary and body; returns the new revision number. Operator only; audited."""
    staff.require_role(actor, StaffRole.OPERATOR)
    d = _validate(draft)
    current = _row(conn, item_id)
    revision = int(current["revision"]) + 1
    conn.execute(
        "update hub.content_item set title = %s, summary = %s, body = %s, revision = %s, updated_at = %s where id = %s",
        (d.title, d.summary, d.body, revision, now, item_id),
    )
    _revision(conn, item_id, revision, d, actor, now)
    staff.event(conn, actor, "content.edit", "content", f"{item_id}:{revision}", now)
    return revision


def publish(conn: psycopg.Connection[Any], actor: Subject, item_id: int, *, now: datetime) -> None:
    """Make a draft or withdrawn item public. Operator only; Conflict if already published; audited."""
    staff.require_role(actor, StaffRole.OPERATOR)
    if _row(conn, item_id)["status"] == Status.PUBLISHED:
        raise Conflict("该内容已发布")
    conn.execute(
        "update hub.content_item set status = 'published', published_at = %s, withdrawn_at = null, updated_at = %s "
        "where id = %s",
        (now, now, item_id),
    )
    staff.event(conn, actor, "content.publish", "content", str(item_id), now)


def withdraw(conn: psycopg.Connection[Any], actor: Subject, item_id: int, *, now: datetime) -> None:
    """Take a published item down. Operator only; Conflict unless published; audited."""
    staff.require_role(actor, StaffRole.OPERATOR)
    if _row(conn, item_id)["status"] != Status.PUBLISHED:
        raise Conflict("只有已发布的内容可以撤回")
    conn.execute(
        "update hub.content_item set status = 'withdrawn', withdrawn_at = %s, updated_at = %s where id = %s",
        (now, now, item_id),
    )
    staff.event(conn, actor, "content.withdraw", "content", str(item_id), now)


def get_admin(conn: psycopg.Connection[Any], actor: Subject, item_id: int) -> ContentAdmin:
    """Any item with its state, for the staff pages. Operator only."""
    staff.require_role(actor, StaffRole.OPERATOR)
    return ContentAdmin.model_validate(_row(conn, item_id))


def list_for_staff(
    conn: psycopg.Connection[Any],
    actor: Subject,
    *,
    kind: Kind | None = None,
    status: Status | None = None,
    limit: int = 50,
) -> list[ContentAdmin]:
    """Items of any state, most recently changed first, for the staff pages. Operator only."""
    staff.require_role(actor, StaffRole.OPERATOR)
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        "select id, kind, title, summary, body, status, revision, published_at from hub.content_item "
        "where (%(kind)s::text is null or kind = %(kind)s) and (%(status)s::text is null or status = %(status)s) "
        "order by updated_at desc, id desc limit %(n)s",
        {
            "kind": kind.value if kind else None,
            "status": status.value if status else None,
            "n": min(max(limit, 1), 200),
        },
    ).fetchall()
    return [ContentAdmin.model_validate(r) for r in rows]


# Public reads ----------------------------------------------------------------------------------
def _micros(at: datetime) -> int:
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


async def list_published(
    conn: AsyncConnection[Any], kind: Kind, *, cursor: str | None = None, limit: int = 20
) -> tuple[list[ContentSummary], str | None]:
    """Published items of ``kind``, newest first, keyset-paged; returns the page and the next cursor."""
    after = paging.decode(cursor, 2)
    cur = conn.cursor(row_factory=dict_row)
    params: dict[str, Any] = {"kind": kind.value, "n": limit + 1}
    where = ""
    if after is not None:
        if not (0 <= after[0] < 2**62 and 0 <= after[1] < 2**62):
            raise ValidationFailed("分页游标无效")
        try:
            params["at"] = EPOCH + timedelta(microseconds=after[0])
        except OverflowError:
            raise ValidationFailed("分页游标无效") from None
        params["id"] = after[1]
        where = "and (published_at, id) < (%(at)s, %(id)s)"
    await cur.execute(
        "select id, kind, title, summary, published_at from hub.content_item "
        f"where kind = %(kind)s and status = 'published' {where} "
        "order by published_at desc, id desc limit %(n)s",
        params,
    )
    rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = paging.encode(_micros(rows[-1]["published_at"]), rows[-1]["id"]) if more else None
    return [ContentSummary.model_validate(r) for r in rows], nxt


async def get_published(conn: AsyncConnection[Any], item_id: int) -> ContentRead:
    """One published item; NotFound for a draft, a withdrawn or a missing one."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "select id, kind, title, summary, body, revision, published_at from hub.content_item "
        "where id = %s and status = 'published'",
        (item_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("内容不存在或已撤回")
    return ContentRead.model_validate(row)
