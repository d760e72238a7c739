"""Shaped for a phone: ETag/304, gzip, cursor pages of the person's contributions, stable error codes."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime

from hub import pg
from hub.access.subject import StaffRole
from hub.content import articles
from hub.content.articles import ContentDraft, Kind
from mobile_api.errors import CODES
from tests.api.actors import cast
from tests.api.conftest import Api, Province
from tests.mobile_api.conftest import app_person, staff

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_etag_and_304_on_public_content(api: Api, province: Province) -> None:
    op = staff(StaffRole.OPERATOR)
    with pg.connect(province.hub_url) as conn:
        item = articles.create(conn, op, Kind.AGENCY_INTRO, ContentDraft(title="中心简介", body="第一版"), now=T0)
        articles.publish(conn, op, item, now=T0)
        conn.commit()
    first = api.get(None, f"/app/v1/content/item?id={item}")
    tag = first.headers["etag"]
    assert re.fullmatch(r'W/"[0-9a-f]{32}"', tag)
    assert first.headers["cache-control"] == "public, max-age=60"
    again = api.get(None, f"/app/v1/content/item?id={item}", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    # A list of tags, the strong form of the same tag and "*" all match (weak comparison, RFC 9110).
    assert api.get(None, f"/app/v1/content/item?id={item}", headers={"If-None-Match": f'"x", {tag}'}).status_code == 304
    assert api.get(None, f"/app/v1/content/item?id={item}", headers={"If-None-Match": tag[2:]}).status_code == 304
    assert api.get(None, f"/app/v1/content/item?id={item}", headers={"If-None-Match": "*"}).status_code == 304
    assert api.get(None, f"/app/v1/content/item?id={item}", headers={"If-None-Match": 'W/"0"'}).status_code == 200

    with pg.connect(province.hub_url) as conn:
        articles.edit(conn, op, item, ContentDraft(title="中心简介", body="第二版"), now=T0)
        conn.commit()
    changed = api.get(None, f"/app/v1/content/item?id={item}", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json()["body"] == "第二版"
    assert changed.headers["etag"] != tag


def test_etag_on_personal_data_is_private(api: Api, province: Province) -> None:
    me = app_person(cast(province).a)
    first = api.get(me, "/app/v1/me/accounts")
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in first.headers["vary"]
    assert api.get(me, "/app/v1/me/accounts", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    # Another person's answer has another tag: a shared cache never serves one person's data to another.
    other = api.get(app_person(cast(province).b), "/app/v1/me/accounts")
    assert other.headers["etag"] != first.headers["etag"]


def _raw_get(api: Api, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """The answer as it travels, without the test client's transparent decompression."""
    with api.client.stream("GET", path, headers=headers) as r:
        raw = b"".join(r.iter_raw())
        return r.status_code, dict(r.headers), raw


def test_gzip_for_app_paths_only(api: Api, province: Province) -> None:
    me = app_person(cast(province).a)
    headers = {"Authorization": f"Bearer {api.token(me)}", "Accept-Encoding": "gzip"}
    status, h, raw = _raw_get(api, "/app/v1/me/contributions?limit=50", headers)
    assert status == 200
    assert h["content-encoding"] == "gzip"
    body = gzip.decompress(raw)
    assert body.startswith(b'{"data":[')
    assert len(raw) < len(body)
    plain = {"Authorization": headers["Authorization"], "Accept-Encoding": "identity"}
    status, h, raw = _raw_get(api, "/app/v1/me/contributions?limit=50", plain)
    assert "content-encoding" not in h
    assert raw == body
    # Other areas keep their own behaviour (the app's middleware is scoped to /app/v1).
    status, h, _ = _raw_get(api, "/openapi.json", {"Accept-Encoding": "gzip"})
    assert status == 200 and "content-encoding" not in h


def test_contribution_pages_cover_every_month_once(api: Api, province: Province) -> None:
    c = cast(province)
    me = app_person(c.a)
    everything = api.get(me, "/app/v1/me/contributions", params={"limit": 50}).json()
    assert everything["next_cursor"] is None, "the seeded person has under 50 months"
    assert len(everything["data"]) >= 6
    keys = [(m["period"], m["insurance"], m["base"]) for m in everything["data"]]
    paged: list[tuple[object, object, object]] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = api.get(me, "/app/v1/me/contributions", params=params).json()
        assert len(page["data"]) <= 5
        paged += [(m["period"], m["insurance"], m["base"]) for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == keys
    periods = [k[0] for k in keys]
    assert periods == sorted(periods, reverse=True)  # newest first
    # Money travels as decimal strings, never as binary floats.
    assert all(isinstance(m["base"], str) for m in everything["data"] if m["base"] is not None)
    year = periods[-1] // 100
    only = api.get(me, "/app/v1/me/contributions", params={"year": year, "limit": 50}).json()["data"]
    assert only and all(m["period"] // 100 == year for m in only)
    assert api.get(me, "/app/v1/me/contributions", params={"limit": 51}).json()["code"] == "INVALID_REQUEST"


def test_every_problem_carries_a_documented_code(api: Api, province: Province) -> None:
    r = api.get(None, "/app/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "NOT_FOUND"
    assert body["request_id"] == r.headers["x-request-id"]
    r = api.client.delete("/app/v1/version")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"
    r = api.get(None, "/app/v1/version")
    assert r.status_code == 422 and r.json()["code"] == "INVALID_REQUEST"
    assert {"loc", "msg"} <= set(r.json()["errors"][0])
    # Outside /app/v1 nothing is added.
    assert "code" not in api.get(None, "/api/v1/persons/1/overview").json()
    assert set(CODES.values()) >= {"AUTH_REQUIRED", "APP_LOGIN_REQUIRED", "MINISTRY_UNAVAILABLE", "RATE_LIMITED"}


def test_openapi_documents_the_app_operations(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = {p for p in spec["paths"] if p.startswith("/app/v1/")}
    assert {"/app/v1/version", "/app/v1/me/contributions", "/app/v1/inbox", "/app/v1/agencies/nearest"} <= paths
    op = spec["paths"]["/app/v1/me"]["get"]
    assert {"401", "403", "404", "429", "503"} <= set(op["responses"])
    assert "AppProblem" in spec["components"]["schemas"]
    assert "code" in spec["components"]["schemas"]["AppProblem"]["required"]
    assert op["description"]
