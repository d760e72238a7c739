"""政策资讯, 热点新闻, 机构介绍: staff create, edit, publish, withdraw (audited); the app reads what is published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub import pg
from hub.access.subject import StaffRole
from hub.content import articles
from hub.content.articles import ContentDraft, Kind
from hub.errors import Conflict, NotFound, ValidationFailed
from tests.api.conftest import Api, Province
from tests.conftest import Databases
from tests.mobile_api.conftest import staff

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_lifecycle_with_revisions_and_audit(dbs: Databases) -> None:
    op = staff(StaffRole.OPERATOR)
    with pg.connect(dbs.hub_url) as conn:
        item = articles.create(conn, op, Kind.POLICY, ContentDraft(title=" 调整基本养老金 ", body="正文一"), now=T0)
        assert articles.edit(conn, op, item, ContentDraft(title="调整基本养老金的通知", body="正文二"), now=T0) == 2
        articles.publish(conn, op, item, now=T0)
        with pytest.raises(Conflict, match="已发布"):
            articles.publish(conn, op, item, now=T0)
        articles.withdraw(conn, op, item, now=T0)
        with pytest.raises(Conflict, match="只有已发布的内容可以撤回"):
            articles.withdraw(conn, op, item, now=T0)
        got = articles.get_admin(conn, op, item)
        assert (got.status, got.title, got.body, got.revision) == ("withdrawn", "调整基本养老金的通知", "正文二", 2)
        other = articles.create(conn, op, Kind.NEWS, ContentDraft(title="新闻", body="正文"), now=T0)
        listed = articles.list_for_staff(conn, op, kind=Kind.POLICY)
        assert [(i.id, i.status) for i in listed] == [(item, "withdrawn")]
        assert [i.id for i in articles.list_for_staff(conn, op, status=articles.Status.DRAFT)] == [other]
        with pytest.raises(NotFound):
            articles.list_for_staff(conn, staff(StaffRole.AUDITOR))
        revisions = conn.execute(
            "select revision, title, body from hub.content_revision where item_id = %s order by revision", (item,)
        ).fetchall()
        assert revisions == [(1, "调整基本养老金", "正文一"), (2, "调整基本养老金的通知", "正文二")]
        actions = [
            r[0]
            for r in conn.execute(
                "select action from hub.audit_log where actor = %s order by seq", (op.account_id,)
            ).fetchall()
        ]
        assert actions == ["content.create", "content.edit", "content.publish", "content.withdraw", "content.create"]


def test_only_operators_write_and_bad_drafts_write_nothing(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        for role in (StaffRole.AUDITOR, StaffRole.REVIEWER, StaffRole.SECURITY_ADMIN):
            with pytest.raises(NotFound):
                articles.create(conn, staff(role), Kind.NEWS, ContentDraft(title="t", body="b"), now=T0)
        op = staff(StaffRole.OPERATOR)
        for draft, message in (
            (ContentDraft(title="  ", body="b"), "标题"),
            (ContentDraft(title="x" * 101, body="b"), "标题"),
            (ContentDraft(title="t", summary="s" * 201, body="b"), "摘要"),
            (ContentDraft(title="t", body=""), "正文"),
        ):
            with pytest.raises(ValidationFailed, match=message):
                articles.create(conn, op, Kind.NEWS, draft, now=T0)
        with pytest.raises(NotFound):
            articles.publish(conn, op, 987_654, now=T0)
        assert conn.execute("select count(*) from hub.content_item").fetchone() == (0,)
        assert conn.execute("select count(*) from hub.audit_log where purpose = 'content'").fetchone() == (0,)


def test_app_sees_published_only_newest_first_in_cursor_pages(api: Api, province: Province) -> None:
    op = staff(StaffRole.OPERATOR)
    ids: list[int] = []
    with pg.connect(province.hub_url) as conn:
        for n in range(7):
            item = articles.create(
                conn, op, Kind.NEWS, ContentDraft(title=f"新闻{n}", summary=f"摘要{n}", body=f"正文{n}"), now=T0
            )
            ids.append(item)
            if n != 3:  # item 3 stays a draft
                # Two items share a publication instant: the id breaks the tie, so no page loses one.
                articles.publish(conn, op, item, now=T0 + timedelta(minutes=min(n, 5)))
        articles.withdraw(conn, op, ids[1], now=T0 + timedelta(hours=1))
        conn.commit()
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = api.get(None, "/app/v1/content/news", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= 2
        assert all("body" not in i for i in body["data"])  # lists carry title and summary only
        seen += [i["id"] for i in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    mine = [i for i in seen if i in ids]
    # Published: 0,2,4,5,6 (1 withdrawn, 3 draft); times 0,2,4,5,5 minutes: newest first, id desc on the tie.
    assert mine == [ids[6], ids[5], ids[4], ids[2], ids[0]]
    assert len(seen) == len(set(seen))
    assert pages >= 3

    detail = api.get(None, f"/app/v1/content/item?id={ids[6]}")
    assert detail.status_code == 200
    assert detail.json()["body"] == "正文6"
    for hidden in (ids[1], ids[3]):
        r = api.get(None, f"/app/v1/content/item?id={hidden}")
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


def test_forged_cursor_is_refused(api: Api, province: Province) -> None:
    for cursor in ("not-base64!", "MQ", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5LjE"):
        r = api.get(None, "/app/v1/content/policies", params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
        assert r.json()["detail"] == "分页游标无效"
