"""The fast path (gateway/fast.py) answers exactly as the FastAPI routes it shadows.

Every request below is sent twice to the same app, once with the fast path on and once with it off
(``app.fast_reads = None``: every request through FastAPI), with the same ``X-Request-ID``; status,
body bytes and headers must be identical, and ``FastReads.served`` shows which path answered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import joserfc.jwt
import pytest
import redis

from gateway.fast import PERSON_READS, FastReads, GatewayApp
from hub import pg
from hub.access.ratelimit import Limit
from hub.access.scopes import ALL_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity.tokens import issue_access_token
from tests import dbkit
from tests.api.actors import MISSING_PERSON, app_person, cast
from tests.api.conftest import Api, Province, make_api

OVERVIEW = "query($id: ID!) { person(id: $id) { overview { personId name idNumber phone regionCode } } }"


def _app(api: Api) -> GatewayApp:
    app = api.client.app
    assert isinstance(app, GatewayApp)
    return app


def _fast(api: Api) -> FastReads:
    fast = _app(api).fast_reads
    assert fast is not None, "HUB_FAST_READS is on by default"
    return fast


def _send(api: Api, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
    return api.client.request(method, path, headers=headers, content=body, follow_redirects=False)


def both(
    api: Api,
    path: str,
    *,
    auth: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    fast: bool = True,
) -> tuple[Any, Any]:
    """The same request through the fast path and through FastAPI; asserts the answers are identical.
    ``fast``: whether the fast path is expected to answer it itself (else it falls through)."""
    app, on = _app(api), _fast(api)
    answers = []
    for fast_reads in (on, None):
        h = {"X-Request-ID": f"cmp-{uuid.uuid4().hex}"} | (headers or {})
        if auth is not None:
            h["Authorization"] = auth
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        app.fast_reads = fast_reads
        served = on.served
        try:
            answers.append((h["X-Request-ID"], _send(api, method, path, h, body)))
        finally:
            app.fast_reads = on
        if fast_reads is on:
            assert on.served == served + (1 if fast else 0), "answered by the expected path"
    (rid_fast, a), (rid_slow, b) = answers
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.content.replace(rid_fast.encode(), b"RID") == b.content.replace(rid_slow.encode(), b"RID")
    assert _headers(a, rid_fast) == _headers(b, rid_slow)
    assert a.headers["x-request-id"] == rid_fast and b.headers["x-request-id"] == rid_slow
    return a, b


def _headers(r: Any, rid: str) -> list[tuple[str, str]]:
    return [(k, v.replace(rid, "RID")) for k, v in r.headers.multi_items() if k not in ("date", "server")]


def bearer(api: Api, subject: Subject) -> str:
    return f"Bearer {api.token(subject)}"


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def test_every_fast_route_is_a_documented_route(api: Api) -> None:
    documented = api.client.get("/openapi.json").json()["paths"]
    for operation in PERSON_READS:
        assert f"/api/v1/persons/{{person_id}}/{operation}" in documented


def test_own_reads_are_identical_on_both_paths(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))
    a, _ = both(api, f"/api/v1/persons/{c.a}/overview", auth=auth)
    assert a.status_code == 200 and a.headers["content-type"] == "application/json"
    assert a.json()["data"]["person_id"] == c.a
    for operation in PERSON_READS:
        r, _ = both(api, f"/api/v1/persons/{c.a}/{operation}", auth=auth)
        assert r.status_code == 200, (operation, r.text)
    # A query string goes to FastAPI where the route takes parameters, and is ignored where it takes none.
    both(api, f"/api/v1/persons/{c.a}/contributions?year=2025", auth=auth, fast=False)
    both(api, f"/api/v1/persons/{c.a}/contributions?limit=0", auth=auth, fast=False)  # 422
    both(api, f"/api/v1/persons/{c.a}/overview?unused=1", auth=auth)
    # Leading zeros name the same person, as FastAPI's integer parsing reads them.
    r, _ = both(api, f"/api/v1/persons/000{c.a}/overview", auth=auth)
    assert r.json()["data"]["person_id"] == c.a


def test_refusals_are_identical_on_both_paths(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))
    other, _ = both(api, f"/api/v1/persons/{c.b}/overview", auth=auth)
    missing, _ = both(api, f"/api/v1/persons/{MISSING_PERSON}/overview", auth=auth)
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"] == missing.json()["detail"] == "请求的记录不存在或无权查看"
    assert other.headers["content-type"] == "application/problem+json"
    # Ids FastAPI refuses with 422 are left to it.
    for bad in ("abc", "0", "-1", str(2**62 + 1), "9" * 30, "１２"):
        r, _ = both(api, f"/api/v1/persons/{bad}/overview", auth=auth, fast=False)
        assert r.status_code == 422, bad
    r, _ = both(api, f"/api/v1/persons/{2**62}/overview", auth=auth)  # the largest id FastAPI accepts
    assert r.status_code == 404
    # Wrong method, unknown operation, trailing slash: FastAPI's answers.
    both(api, f"/api/v1/persons/{c.a}/overview", auth=auth, method="POST", fast=False)
    both(api, f"/api/v1/persons/{c.a}/nothing", auth=auth, fast=False)
    both(api, f"/api/v1/persons/{c.a}/overview/", auth=auth, fast=False)


def test_token_problems_are_identical_on_both_paths(api: Api, province: Province) -> None:
    c = cast(province)
    path = f"/api/v1/persons/{c.a}/overview"
    r, _ = both(api, path, fast=False)  # no token: the route's dependency answers
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r, _ = both(api, path, auth="Basic dXNlcjpwYXNz", fast=False)
    assert r.status_code == 401
    r, _ = both(api, path, auth="Bearer not-a-jwt")
    assert r.status_code == 401 and r.json()["title"] == "未认证"
    assert r.headers["www-authenticate"] == 'Bearer realm="hub"'
    # Expired: issued 301 s ago (access tokens live 300 s).
    expired = issue_access_token(
        app_person(c.a), api.keys, issuer=api.issuer, audience=api.audience, now=time.time() - 301
    )
    r, _ = both(api, path, auth=f"Bearer {expired}")
    assert r.status_code == 401
    # Revoked: the marker the OAuth server's revocation writes.
    subject = app_person(c.a, grant_id=f"g-{uuid.uuid4().hex}")
    token = api.token(subject)
    assert both(api, path, auth=f"Bearer {token}")[0].status_code == 200
    jti = joserfc.jwt.decode(token, api.keys.current).claims["jti"]
    prefix = _app(api).state.identity.cfg.settings.redis_prefix
    with redis.Redis.from_url(api_redis_url(api)) as r_:
        r_.set(f"{prefix}revoked:jti:{jti}", "1", ex=600)
    r, _ = both(api, path, auth=f"Bearer {token}")
    assert r.status_code == 401


def api_redis_url(api: Api) -> str:
    url: str = _app(api).state.endpoints.redis_url
    return url


def test_consistency_token_on_both_paths(province: Province) -> None:
    c = cast(province)
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, consistency_timeout=0.1
    ) as api:
        auth = bearer(api, app_person(c.a))
        path = f"/api/v1/persons/{c.a}/overview"
        # Transaction 3 (bootstrap) is visible in every snapshot: answered at once.
        r, _ = both(api, path, auth=auth, headers={"X-Consistency-Token": "3"})
        assert r.status_code == 200
        r, _ = both(api, path, auth=auth, headers={"X-Consistency-Token": "0"})  # 0: no token
        assert r.status_code == 200
        # A transaction the store has not applied: 503 with Retry-After once the wait is over.
        r, _ = both(api, path, auth=auth, headers={"X-Consistency-Token": str(2**62)})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["detail"] == "数据正在同步，请稍后再试"
        for bad in ("abc", "-1", str(2**63), ""):
            r, _ = both(api, path, auth=auth, headers={"X-Consistency-Token": bad}, fast=False)
            assert r.status_code == 422, bad
        # GraphQL takes the same header (its context is built from the same read dependency).
        query = b'{"query": "{ asOf }"}'
        r, _ = both(api, "/graphql", auth=auth, method="POST", body=query, headers={"X-Consistency-Token": "3"})
        assert r.status_code == 200
        r, _ = both(api, "/graphql", auth=auth, method="POST", body=query, headers={"X-Consistency-Token": str(2**62)})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        r, _ = both(
            api, "/graphql", auth=auth, method="POST", body=query, headers={"X-Consistency-Token": "12x"}, fast=False
        )
        assert r.status_code == 422


def test_rate_limited_on_both_paths(province: Province) -> None:
    c = cast(province)
    # One request per 100 s, burst 1: the second request of a subject is refused for 100 s.
    limits = {"read": {"subject": Limit(0.01, 1)}, "graphql": {"subject": Limit(0.01, 1)}}
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, rate_limits=limits
    ) as api:
        app, on = _app(api), _fast(api)
        path = f"/api/v1/persons/{c.a}/overview"
        answers = []
        for fast_reads in (on, None):
            auth = bearer(api, app_person(c.a))  # a subject (account) of its own per path
            app.fast_reads = fast_reads
            try:
                first = api.client.get(path, headers={"Authorization": auth, "X-Request-ID": "rate-limit-probe"})
                second = api.client.get(path, headers={"Authorization": auth, "X-Request-ID": "rate-limit-probe"})
            finally:
                app.fast_reads = on
            assert first.status_code == 200
            answers.append(second)
        a, b = answers
        assert a.status_code == b.status_code == 429
        assert a.content == b.content and a.headers.multi_items() == b.headers.multi_items()
        assert a.headers["retry-after"] == "100"  # ceil(100 s less the moments since the first request)
        assert a.json()["retry_after"] == 100


def test_channel_masking_on_both_paths(api: Api, province: Province) -> None:
    c = cast(province)
    raw = province.persons[c.a]
    path = f"/api/v1/persons/{c.a}/overview"
    kiosk, _ = both(api, path, auth=bearer(api, c.actors["kiosk"]))
    hotline, _ = both(api, path, auth=bearer(api, c.actors["hotline"]))
    own, _ = both(api, path, auth=bearer(api, c.actors["person_a"]))
    hall = Subject(
        SubjectKind.STAFF,
        f"hall-{uuid.uuid4().hex[:8]}",
        "hall-01",
        Channel.HALL,
        frozenset(s.value for s in ALL_SCOPES),
        person_id=c.a,  # the person whose consent the counter holds
        roles=frozenset({StaffRole.OPERATOR}),
        region_codes=frozenset({c.region_x}),
    )
    counter, _ = both(api, path, auth=bearer(api, hall))
    id_number, name, phone = raw["id_number"], raw["name"], raw["phone"]
    # DOMAIN.md §6.2 by hand: ID 3 + stars + 4, phone 3 + 4 stars + 4, name first (+ * + last).
    masked_id = id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]
    masked_name = name[0] + "*" if len(name) == 2 else name[0] + "*" + name[-1]
    for r in (kiosk, hotline):
        data = r.json()["data"]
        assert data["id_number"] == masked_id and data["name"] == masked_name
        assert phone is None or data["phone"] == phone[:3] + "****" + phone[-4:]
    assert own.json()["data"]["id_number"] == masked_id and own.json()["data"]["name"] == name  # portal: names shown
    assert counter.json()["data"]["id_number"] == id_number and counter.json()["data"]["phone"] == phone


def test_audit_rows_are_the_same_on_both_paths(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))
    rows = {}
    for path in (f"/api/v1/persons/{c.a}/overview", f"/api/v1/persons/{c.b}/card"):
        (a, b) = both(api, path, auth=auth, headers={"X-Purpose": "ticket-42", "X-Forwarded-For": "203.0.113.9"})
        rows[path] = (a.headers["x-request-id"], b.headers["x-request-id"])
    with pg.connect(province.hub_url) as conn:
        for path, (fast_rid, slow_rid) in rows.items():
            got = {
                rid: conn.execute(
                    "select actor_kind, actor, client_id, channel, action, target_type, target_id, purpose, result, "
                    "ip from hub.audit_log where request_id = %s",
                    (rid,),
                ).fetchall()
                for rid in (fast_rid, slow_rid)
            }
            assert len(got[fast_rid]) == 1, path
            assert got[fast_rid] == got[slow_rid], path
    own = conn_rows(province, rows[f"/api/v1/persons/{c.a}/overview"][0])
    assert own[4:9] == ("person.overview", "person", str(c.a), "ticket-42", "ok")
    refused = conn_rows(province, rows[f"/api/v1/persons/{c.b}/card"][0])
    assert refused[4:9] == ("person.card", "person", str(c.b), "ticket-42", "not_found")


def conn_rows(province: Province, rid: str) -> tuple[Any, ...]:
    return dbkit.one(
        province.hub_url,
        "select actor_kind, actor, client_id, channel, action, target_type, target_id, purpose, result, ip "
        "from hub.audit_log where request_id = %s",
        (rid,),
    )


def test_graphql_is_identical_on_both_paths(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))

    def gql(query: str, variables: dict[str, Any] | None = None, **kw: Any) -> bytes:
        import orjson

        return orjson.dumps({"query": query, "variables": variables or {}, **kw})

    a, _ = both(api, "/graphql", auth=auth, method="POST", body=gql(OVERVIEW, {"id": str(c.a)}))
    assert a.json()["data"]["person"]["overview"]["personId"] == c.a
    a, _ = both(api, "/graphql", auth=auth, method="POST", body=gql(OVERVIEW, {"id": str(c.b)}))
    assert a.json()["errors"][0]["extensions"]["status"] == 404
    both(api, "/graphql", auth=auth, method="POST", body=gql("{ person(id: 1) { overview { nope } } }"))
    both(api, "/graphql", auth=auth, method="POST", body=gql("{ person(id: "))  # syntax error
    both(api, "/graphql", auth=auth, method="POST", body=gql("{ asOf }", operationName="Missing"))  # 400 text
    # Not one plain operation: strawberry's view answers (the body the fast path read is replayed).
    both(api, "/graphql", auth=auth, method="POST", body=b"not json", fast=False)
    both(api, "/graphql", auth=auth, method="POST", body=b"[]", fast=False)
    both(api, "/graphql", auth=auth, method="POST", body=gql("{ asOf }", extensions={"x": 1}), fast=False)
    both(api, "/graphql", auth=auth, method="POST", body=b'{"query": 5}', fast=False)
    both(api, "/graphql", method="POST", body=gql("{ asOf }"), fast=False)  # no token: 401 from FastAPI
    r, _ = both(api, "/graphql", auth="Bearer not-a-jwt", method="POST", body=gql("{ asOf }"))
    assert r.status_code == 401


def test_query_store_down_is_503_on_both_paths(province: Province) -> None:
    c = cast(province)
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as api:
        auth = bearer(api, app_person(c.a))
        path = f"/api/v1/persons/{c.a}/overview"
        assert both(api, path, auth=auth)[0].status_code == 200
        pools = _app(api).state.pools
        api.client.portal.call(pools.query.close)  # type: ignore[union-attr]
        r, _ = both(api, path, auth=auth)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["title"] == "服务暂不可用"


def test_switched_off_by_the_setting(province: Province) -> None:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url, fast_reads=False) as api:
        assert _app(api).fast_reads is None
        c = cast(province)
        assert api.get(c.actors["person_a"], f"/api/v1/persons/{c.a}/overview").status_code == 200


def test_request_limits_on_both_paths(province: Province) -> None:
    """The response deadline and the body limit of hub.http.limits hold on the fast path too."""
    c = cast(province)
    with make_api(
        province.core_url,
        province.query_url,
        province.hub_url,
        province.redis_url,
        consistency_timeout=5.0,
        web={"request_timeout_seconds": 0.3, "max_body_bytes": 1024},
    ) as api:
        auth = bearer(api, app_person(c.a))
        # A read waiting (up to 5 s) for a transaction the store has not applied passes the 0.3 s deadline.
        r, _ = both(api, f"/api/v1/persons/{c.a}/overview", auth=auth, headers={"X-Consistency-Token": str(2**62)})
        assert r.status_code == 503 and r.headers["retry-after"] == "5" and r.headers["connection"] == "close"
        assert r.json()["detail"] == "系统繁忙，请稍后再试"
        # A GraphQL body over the 1 KB limit is refused before it is read, by the middleware.
        body = b'{"query": "{ asOf }", "variables": {"pad": "' + b"x" * 2000 + b'"}}'
        r, _ = both(api, "/graphql", auth=auth, method="POST", body=body, fast=False)
        assert r.status_code == 413
