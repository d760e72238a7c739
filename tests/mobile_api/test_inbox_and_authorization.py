"""The personal inbox and who may call the app's personal operations (a person sees only themself)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.content import inbox
from hub.content.inbox import MessageKind
from hub.errors import ValidationFailed
from tests.api.actors import cast
from tests.api.conftest import Api, Province
from tests.mobile_api.conftest import PERSON_SCOPE_VALUES, app_person, staff

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
PERSONAL = ["/app/v1/me", "/app/v1/me/insurance", "/app/v1/me/contributions", "/app/v1/me/accounts", "/app/v1/me/card",
            "/app/v1/inbox", "/app/v1/inbox/unread-count"]  # fmt: skip


def _deliver(hub_url: str, person_id: int, n: int, key: str) -> list[int]:
    ids = []
    with pg.connect(hub_url) as conn:
        for i in range(n):
            got = inbox.deliver(
                conn, person_id, MessageKind.BUSINESS, f"业务办结{i}", f"您的业务已办结（{i}）", now=T0,
                source_key=f"{key}-{i}",
            )  # fmt: skip
            assert got is not None
            ids.append(got)
        conn.commit()
    return ids


def test_deliver_is_idempotent_and_validates(province: Province) -> None:
    person = cast(province).b
    with pg.connect(province.hub_url) as conn:
        first = inbox.deliver(
            conn, person, MessageKind.PAYMENT, "养老金已发放", "本月养老金已到账", now=T0, source_key="k1"
        )
        again = inbox.deliver(
            conn, person, MessageKind.PAYMENT, "养老金已发放", "本月养老金已到账", now=T0, source_key="k1"
        )
        assert first is not None and again is None
        with pytest.raises(ValidationFailed, match="消息标题"):
            inbox.deliver(conn, person, MessageKind.CARD, " ", "内容", now=T0)
        with pytest.raises(ValidationFailed, match="消息内容"):
            inbox.deliver(conn, person, MessageKind.CARD, "标题", "长" * 2001, now=T0)
        conn.rollback()


def test_inbox_unread_counts_pages_and_mark_read(api: Api, province: Province) -> None:
    c = cast(province)
    me, other = app_person(c.b), app_person(c.a)
    base = api.get(me, "/app/v1/inbox/unread-count").json()["unread"]
    mine = _deliver(province.hub_url, c.b, 5, f"inbox-{me.account_id}")
    theirs = _deliver(province.hub_url, c.a, 1, f"inbox-{other.account_id}")
    assert api.get(me, "/app/v1/inbox/unread-count").json()["unread"] == base + 5

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = api.get(me, "/app/v1/inbox", params=params).json()
        assert body["unread"] == base + 5
        seen += [m["id"] for m in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in mine] == sorted(mine, reverse=True)  # newest first
    assert not set(seen) & set(theirs)

    r = api.client.post(f"/app/v1/inbox/{mine[0]}/read", headers={"Authorization": f"Bearer {api.token(me)}"})
    assert r.status_code == 204
    assert api.get(me, "/app/v1/inbox/unread-count").json()["unread"] == base + 4
    unread_ids = [
        m["id"] for m in api.get(me, "/app/v1/inbox", params={"unread_only": True, "limit": 50}).json()["data"]
    ]
    assert mine[0] not in unread_ids and mine[1] in unread_ids

    # Someone else's message answers as a missing one and stays unread.
    r = api.client.post(f"/app/v1/inbox/{theirs[0]}/read", headers={"Authorization": f"Bearer {api.token(me)}"})
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    with pg.connect(province.hub_url) as conn:
        assert conn.execute("select read_at from hub.inbox_message where id = %s", (theirs[0],)).fetchone() == (None,)

    r = api.client.post("/app/v1/inbox/read-all", headers={"Authorization": f"Bearer {api.token(me)}"})
    assert r.status_code == 200 and r.json()["marked"] == base + 4
    assert api.get(me, "/app/v1/inbox/unread-count").json()["unread"] == 0
    assert api.get(other, "/app/v1/inbox/unread-count").json()["unread"] >= 1


def test_a_person_sees_only_themself(api: Api, province: Province) -> None:
    c = cast(province)
    for pid in (c.a, c.b):
        body = api.get(app_person(pid), "/app/v1/me").json()
        assert body["data"]["person_id"] == pid
        assert body["data"]["real_name"] == {"verified": True, "methods": ["pwd", "sms"]}
        overview = province.persons[pid]
        # The app masks the ID number and the phone (DOMAIN.md §6.2) but not the name.
        assert body["data"]["id_number"] != overview["id_number"]
        assert body["data"]["id_number"][-4:] == overview["id_number"][-4:]
        assert "*" in body["data"]["id_number"]
        assert body["data"]["name"] == overview["name"]
    # The card number keeps its last four characters only.
    card = api.get(app_person(c.a), "/app/v1/me/card").json()["data"]
    assert card is not None and card["card_no"].startswith("*")
    # No operation takes a person id: a query parameter naming someone else changes nothing.
    r = api.get(app_person(c.b), "/app/v1/me", params={"person_id": c.a})
    assert r.json()["data"]["person_id"] == c.b


def _tokens(c: object) -> dict[str, Subject]:
    a = c.a  # type: ignore[attr-defined]
    return {
        "portal person": app_person(a, Channel.PORTAL),
        "kiosk": Subject(SubjectKind.CLIENT, "kiosk-x", "kiosk-01", Channel.KIOSK, PERSON_SCOPE_VALUES, person_id=a),
        "hotline": Subject(SubjectKind.CLIENT, "ivr-x", "ivr-01", Channel.HOTLINE, PERSON_SCOPE_VALUES, person_id=a),
        "staff": staff(StaffRole.REVIEWER),
        "app client without a person": Subject(
            SubjectKind.CLIENT, "app", "app-12333", Channel.APP, PERSON_SCOPE_VALUES
        ),
    }


@pytest.mark.parametrize("path", PERSONAL)
def test_other_channels_are_refused(api: Api, province: Province, path: str) -> None:
    c = cast(province)
    r = api.get(None, path)
    assert r.status_code == 401 and r.json()["code"] == "AUTH_REQUIRED"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = api.get(None, path, headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    for who, subject in _tokens(c).items():
        r = api.get(subject, path)
        assert r.status_code == 403, (who, r.text)
        assert r.json()["code"] == "APP_LOGIN_REQUIRED"
        assert r.json()["detail"] == "请使用掌上12333应用登录后访问"


def test_missing_scope_is_refused_by_the_service(api: Api, province: Province) -> None:
    c = cast(province)
    me = app_person(c.a)
    narrow = Subject(me.kind, me.account_id, me.client_id, me.channel, frozenset({"person:read"}), person_id=c.a)
    assert api.get(narrow, "/app/v1/me").status_code == 200
    # Without contribution:read the record answers as not found (hub/persons rule), never the data.
    r = api.get(narrow, "/app/v1/me/contributions")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
