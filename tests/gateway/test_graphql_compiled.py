"""Compiled plans (gateway/graphql/compiled.py): the hot GraphQL document answered without strawberry.

Every request is sent through the fast path with plans and through FastAPI (``both`` of
test_fast_path.py: same status, body bytes and headers), then again with the plans switched off
(``FastReads.plans = None``: strawberry executes on the fast path), so all three answers agree.
``FastReads.planned`` shows whether a plan wrote the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from graphql import parse

from gateway.fast import FastReads
from gateway.graphql.compiled import plan_of
from hub import pg
from tests.api.actors import MISSING_PERSON, app_person, cast
from tests.api.conftest import Api, Province, make_api
from tests.gateway.test_fast_path import _app, _fast, bearer, both

ALL_FIELDS = (
    "personId idType idNumber name sex ethnicity birthDate workStart phone regionCode retired retireDate "
    "positionLevel address postalCode"
)
BY_VARIABLE = "query Overview($id: ID!) { person(id: $id) { overview { %s } } }"


def gql(query: str, variables: dict[str, Any] | None = None, **kw: Any) -> bytes:
    return orjson.dumps({"query": query, "variables": variables, **kw})


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def ask(api: Api, body: bytes, auth: str | None, *, planned: bool, headers: dict[str, str] | None = None) -> Any:
    """``body`` posted with plans on (checked against FastAPI), then with plans off (the same); the answer.

    The first post of a query text validates it (strawberry): the plan serves from the second on, so each
    text is posted once before the comparison."""
    fast = _fast(api)
    h = headers or {}
    both(api, "/graphql", auth=auth, method="POST", body=body, headers=h)  # warm: parsed and validated
    before = fast.planned
    answer, _ = both(api, "/graphql", auth=auth, method="POST", body=body, headers=h)
    assert fast.planned == before + (1 if planned else 0), "written by a plan" if planned else "not planned"
    plans, fast.plans = fast.plans, None
    try:
        off, _ = both(api, "/graphql", auth=auth, method="POST", body=body, headers=h)
    finally:
        fast.plans = plans
    assert fast.planned == before + (1 if planned else 0)
    assert (
        answer.status_code == off.status_code
        and answer.content.split(b'"request_id"')[0] == off.content.split(b'"request_id"')[0]
    )
    return answer


def test_own_overview_all_fields_subset_and_aliases(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))
    raw = province.persons[c.a]
    r = ask(api, gql(BY_VARIABLE % ALL_FIELDS, {"id": str(c.a)}), auth, planned=True)
    got = r.json()["data"]["person"]["overview"]
    assert list(got) == ALL_FIELDS.split()  # the document's order
    assert got["personId"] == c.a and got["regionCode"] == raw["region_code"]
    assert got["birthDate"] == (raw["birth_date"].isoformat() if raw["birth_date"] else None)
    # A subset, aliases at every level, __typename at both levels, a repeated field, a literal id.
    r = ask(
        api,
        gql(
            f'{{ me: person(id: "{c.a}") {{ __typename o: overview {{ t: __typename region: regionCode '
            "personId personId birthDate } kind: __typename } }"
        ),
        auth,
        planned=True,
    )
    assert r.content.startswith(b'{"data":{"me":{"__typename":"PersonType","o":{"t":"PersonOverviewType","region"')
    assert list(r.json()["data"]["me"]) == ["__typename", "o", "kind"]
    # An Int literal and an Int variable name the person as the string would (ID coerces them).
    ask(api, gql(f"{{ person(id: {c.a}) {{ overview {{ personId name }} }} }}"), auth, planned=True)
    ask(api, gql(BY_VARIABLE % "personId", {"id": c.a}), auth, planned=True)
    # The operation named by operationName (and variables not declared are ignored).
    ask(api, gql(BY_VARIABLE % "name", {"id": str(c.a), "x": 1}, operationName="Overview"), auth, planned=True)


def test_refusals_and_missing(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))
    other = ask(api, gql(BY_VARIABLE % "personId name", {"id": str(c.b)}), auth, planned=True)
    missing = ask(api, gql(BY_VARIABLE % "personId name", {"id": str(MISSING_PERSON)}), auth, planned=True)
    for r in (other, missing):
        assert r.status_code == 200
        body = r.json()
        assert body["data"] is None and len(body["errors"]) == 1
        error = body["errors"][0]
        assert error["message"] == "请求的记录不存在或无权查看"
        assert error["path"] == ["person", "overview"]
        # ``overview`` starts at column 46 of the one line: "query Overview($id: ID!) { person(id: $id) { " is 45.
        assert error["locations"] == [{"line": 1, "column": 46}]
        assert error["extensions"]["status"] == 404
    # Ids the resolver answers as missing without reading, and values ID refuses: strawberry answers ("0" is
    # read, the number 0, and missing).
    for bad in ("abc", "0", "-1", "1" * 19, "１２", ""):
        r = ask(api, gql(BY_VARIABLE % "personId", {"id": bad}), auth, planned=bad == "0")
        assert r.json()["errors"][0]["message"], bad
    for wrong in (1.5, True, None, [1], {"a": 1}):
        ask(api, gql(BY_VARIABLE % "personId", {"id": wrong}), auth, planned=False)
    ask(api, gql(BY_VARIABLE % "personId", None), auth, planned=False)  # the variable missing
    ask(api, gql(BY_VARIABLE % "personId", {"id": str(c.a)}, operationName="Other"), auth, planned=False)  # 400
    ask(api, gql(BY_VARIABLE % "nope", {"id": str(c.a)}), auth, planned=False)  # a validation error


def test_tokens(api: Api, province: Province) -> None:
    c = cast(province)
    body = gql(BY_VARIABLE % "personId", {"id": str(c.a)})
    both(api, "/graphql", method="POST", body=body, fast=False)  # no token: FastAPI's 401
    r, _ = both(api, "/graphql", auth="Bearer not-a-jwt", method="POST", body=body)
    assert r.status_code == 401 and r.json()["title"] == "未认证"


def test_channel_masking(api: Api, province: Province) -> None:
    c = cast(province)
    raw = province.persons[c.a]
    body = gql(BY_VARIABLE % "name idNumber phone address postalCode", {"id": str(c.a)})
    id_number, name, phone = raw["id_number"], raw["name"], raw["phone"]
    # DOMAIN.md §6.2 by hand: ID 3 + stars + 4, phone 3 + 4 stars + 4, name first (+ * + last).
    masked_id = id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]
    masked_name = name[0] + "*" if len(name) == 2 else name[0] + "*" + name[-1]
    for actor in ("kiosk", "hotline"):
        got = ask(api, body, bearer(api, c.actors[actor]), planned=True).json()["data"]["person"]["overview"]
        assert got["idNumber"] == masked_id and got["name"] == masked_name
        assert phone is None or got["phone"] == phone[:3] + "****" + phone[-4:]


def test_a_person_without_a_phone(api: Api, province: Province) -> None:
    no_phone = [p for p, row in province.persons.items() if row["phone"] is None]
    assert no_phone, "the seed has persons without a phone"
    pid = no_phone[0]
    r = ask(api, gql(BY_VARIABLE % "personId phone", {"id": str(pid)}), bearer(api, app_person(pid)), planned=True)
    assert r.content == b'{"data":{"person":{"overview":{"personId":%d,"phone":null}}}}' % pid


def test_audit_rows_are_the_same(api: Api, province: Province) -> None:
    c = cast(province)
    auth = bearer(api, app_person(c.a))
    rows = {}
    fast = _fast(api)
    for pid in (c.a, c.b, MISSING_PERSON):
        body = gql(BY_VARIABLE % "personId", {"id": str(pid)})
        both(api, "/graphql", auth=auth, method="POST", body=body)  # warm
        before = fast.planned
        a, b = both(api, "/graphql", auth=auth, method="POST", body=body, headers={"X-Purpose": "ticket-7"})
        assert fast.planned == before + 1
        rows[pid] = (a.headers["x-request-id"], b.headers["x-request-id"])
    with pg.connect(province.hub_url) as conn:
        for pid, rids in rows.items():
            got = [
                conn.execute(
                    "select actor_kind, actor, client_id, channel, action, target_type, target_id, purpose, result, "
                    "ip from hub.audit_log where request_id = %s",
                    (rid,),
                ).fetchall()
                for rid in rids
            ]
            assert len(got[0]) == 1 and got[0] == got[1], pid
            assert got[0][0][4:9] == (
                "person.overview",
                "person",
                str(pid),
                "ticket-7",
                "ok" if pid == c.a else "not_found",
            )


def test_read_your_writes_and_the_store_down(province: Province) -> None:
    c = cast(province)
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, consistency_timeout=0.1
    ) as api:
        auth = bearer(api, app_person(c.a))
        body = gql(BY_VARIABLE % "personId", {"id": str(c.a)})
        ask(api, body, auth, planned=True, headers={"X-Consistency-Token": "3"})  # applied: answered
        # Not applied within the wait: a 503 problem, as FastAPI's context dependency answers (not a
        # GraphQL error), with plans and without.
        r = ask(api, body, auth, planned=False, headers={"X-Consistency-Token": str(2**62)})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["detail"] == "数据正在同步，请稍后再试"
        # The same for documents without a plan that read nothing: an invalid one, an id answered as missing
        # without reading, a text not validated yet (its first post).
        pending = {"X-Consistency-Token": str(2**62)}
        for doc in (gql(BY_VARIABLE % "nope", {"id": str(c.a)}), gql(BY_VARIABLE % "personId", {"id": "abc"})):
            r = ask(api, doc, auth, planned=False, headers=pending)
            assert r.status_code == 503, r.text
        fresh = gql("query Fresh($id: ID!) { person(id: $id) { overview { name } } }", {"id": str(c.a)})
        r, _ = both(api, "/graphql", auth=auth, method="POST", body=fresh, headers=pending)
        assert r.status_code == 503
        # The query store down: 503 on every path.
        api.client.portal.call(_app(api).state.pools.query.close)  # type: ignore[union-attr]
        for doc in (body, gql(BY_VARIABLE % "nope", {"id": str(c.a)}), gql(BY_VARIABLE % "personId", {"id": "ab"})):
            r = ask(api, doc, auth, planned=False)
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert r.json()["title"] == "服务暂不可用"


@pytest.mark.parametrize(
    ("query", "planned"),
    [
        ("{ person(id: 1) { overview { personId name } } }", True),
        ("query Q($id: ID!) { p: person(id: $id) { __typename o: overview { __typename n: name } } }", True),
        ("query($id: ID) { person(id: $id) { overview { personId } } }", False),  # nullable variable
        ('query($id: ID! = "1") { person(id: $id) { overview { personId } } }', False),  # a default
        ("{ person(id: 1) { overview { personId } o2: overview { name } } }", False),  # two overviews
        ("{ asOf person(id: 1) { overview { personId } } }", False),
        ("{ person(id: 1) { overview { personId } insurance { insurance } } }", False),
        ("{ person(id: 1) { overview { ...F } } } fragment F on PersonOverviewType { personId }", False),
        ("{ person(id: 1) { overview { personId @skip(if: false) } } }", False),
        ("{ person(id: 1) @include(if: true) { overview { personId } } }", False),
        ("query A { person(id: 1) { overview { personId } } } query B { asOf }", False),
        ("{ person(id: 1) { overview: __typename } }", False),
        ("{ unit(id: 1) { overview { name } } }", False),
    ],
)
def test_which_documents_get_a_plan(api: Api, query: str, planned: bool) -> None:
    fast = _fast(api)
    assert fast.plans is not None
    assert (plan_of(fast.plans.schema, parse(query), fast.plans.attributes) is not None) is planned


def test_plans_know_every_overview_field(api: Api) -> None:
    """Every field of PersonOverviewType has a serialiser: a new field of another type gets no plan."""
    plans = _fast(api).plans
    assert plans is not None
    assert set(plans.attributes) == set(ALL_FIELDS.split())
    assert plan_of(plans.schema, parse(f"{{ person(id: 1) {{ overview {{ {ALL_FIELDS} }} }} }}"), plans.attributes)


def test_fast_reads_type() -> None:
    assert FastReads(timeout=1.0, max_body=1024, graphql=None).plans is None
