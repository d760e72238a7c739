"""The fast path's overview reads (REST, and GraphQL documents reading nothing else) are one statement on
the query store: one round trip, no transaction.

The query-store pool is shrunk to one connection and libpq's protocol trace of that connection is read:
every round trip ends with the client's Sync (extended protocol) or is one Query message (simple
protocol, e.g. BEGIN or ROLLBACK). Answers and refusals stay those of the FastAPI route
(tests/gateway/test_fast_path.py compares them byte for byte).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from graphql import parse
from psycopg import pq

from gateway.fast import GatewayApp, overview_only
from tests.api.actors import MISSING_PERSON, cast
from tests.api.conftest import Api, Province, make_api


def _round_trips(trace: str) -> list[str]:
    """The messages that end a round trip in a libpq trace without timestamps (direction, length, type)."""
    ends = []
    for line in trace.splitlines():
        fields = line.split("\t")
        if len(fields) > 2 and fields[0] == "F" and fields[2].split(" ")[0] in ("Sync", "Query"):
            ends.append(fields[2] + (fields[3] if len(fields) > 3 else ""))
    return ends


class Traced:
    """The app's query-store pool reduced to one connection, whose protocol messages go to a file."""

    def __init__(self, api: Api, path: Path) -> None:
        self.api = api
        self.path = path
        app = api.client.app
        assert isinstance(app, GatewayApp)
        self.pool = app.state.pools.query
        portal = api.client.portal
        assert portal is not None
        self.portal = portal
        self.portal.call(self._shrink)

    async def _shrink(self) -> None:
        await self.pool.resize(min_size=1, max_size=1)
        await self.pool.wait()

    async def _trace(self, on: bool) -> None:
        async with self.pool.connection() as conn:
            if on:
                self._out = self.path.open("w")
                conn.pgconn.trace(self._out.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            else:
                conn.pgconn.untrace()
                self._out.close()

    def round_trips(self, request: Any) -> tuple[Any, list[str]]:
        """``request()``'s answer and the round trips it made to the query store."""
        self.portal.call(self._trace, True)
        try:
            answer = request()
        finally:
            self.portal.call(self._trace, False)
        return answer, _round_trips(self.path.read_text())


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def test_an_overview_read_is_one_round_trip(api: Api, province: Province, tmp_path: Path) -> None:
    c = cast(province)
    me = c.actors["person_a"]
    traced = Traced(api, tmp_path / "query.trace")
    path = f"/api/v1/persons/{c.a}/overview"
    # Keyrings loaded and both statements (with and without a token) prepared on the connection: a
    # statement's first use on a connection costs one more round trip (its Parse).
    assert api.get(me, path).status_code == 200
    assert api.get(me, path, headers={"X-Consistency-Token": "3"}).status_code == 200

    own, trips = traced.round_trips(lambda: api.get(me, path))
    assert own.status_code == 200 and own.json()["data"]["person_id"] == c.a
    number = province.persons[c.a]["id_number"]  # decrypted, then masked for the app: 3 + 11 stars + 4
    assert own.json()["data"]["id_number"] == number[:3] + "*" * 11 + number[-4:]
    assert len(trips) == 1 and trips[0].startswith("Sync"), trips

    # Someone else's record and a missing one: the same one statement, the same 404.
    for pid in (c.b, MISSING_PERSON):
        refused, trips = traced.round_trips(lambda pid=pid: api.get(me, f"/api/v1/persons/{pid}/overview"))
        assert refused.status_code == 404 and refused.json()["detail"] == "请求的记录不存在或无权查看"
        assert len(trips) == 1, trips

    # A consistency token the store has applied (a small core transaction id) needs no wait.
    applied, trips = traced.round_trips(lambda: api.get(me, path, headers={"X-Consistency-Token": "3"}))
    assert applied.status_code == 200 and len(trips) == 1, trips


def test_a_token_not_yet_applied_waits_then_answers_503(province: Province, tmp_path: Path) -> None:
    c = cast(province)
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, consistency_timeout=0.2
    ) as api:
        traced = Traced(api, tmp_path / "query.trace")
        path = f"/api/v1/persons/{c.a}/overview"
        pending, trips = traced.round_trips(
            lambda: api.get(c.actors["person_a"], path, headers={"X-Consistency-Token": str(2**62)})
        )
        assert pending.status_code == 503, pending.text
        assert pending.json()["detail"] == "数据正在同步，请稍后再试"
        # The statement, then the polls of the wait (0.05 s apart within 0.2 s): never an answer.
        assert len(trips) >= 2, trips


def _gql(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": variables or {}})


OVERVIEW_DOC = "query($id: ID!) { person(id: $id) { __typename overview { personId name idNumber regionCode } } }"


def test_an_overview_only_graphql_document_is_one_round_trip(api: Api, province: Province, tmp_path: Path) -> None:
    c = cast(province)
    token = api.token(c.actors["person_a"])
    traced = Traced(api, tmp_path / "query.trace")

    def post(query: str, pid: int) -> Any:
        return api.client.post(
            "/graphql",
            content=_gql(query, {"id": str(pid)}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    assert post(OVERVIEW_DOC, c.a).status_code == 200  # statements prepared on the connection
    own, trips = traced.round_trips(lambda: post(OVERVIEW_DOC, c.a))
    assert own.json()["data"]["person"]["overview"]["personId"] == c.a
    assert len(trips) == 1, trips
    other, trips = traced.round_trips(lambda: post(OVERVIEW_DOC, c.b))
    assert other.json()["errors"][0]["extensions"]["status"] == 404 and len(trips) == 1, trips
    # Anything else in the document (here the snapshot's position) reads in one transaction as before:
    # BEGIN with the position, the facts, the overview (unless cached), ROLLBACK.
    mixed = "query($id: ID!) { asOf person(id: $id) { overview { personId } } }"
    both, trips = traced.round_trips(lambda: post(mixed, c.a))
    assert both.json()["data"]["person"]["overview"]["personId"] == c.a
    assert len(trips) >= 3 and trips[0].startswith("Query") and trips[-1].startswith("Query"), trips


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ person(id: 1) { overview { personId name } } }", True),
        ("query Q($id: ID!) { person(id: $id) { __typename overview { personId } o2: overview { name } } }", True),
        ("{ asOf person(id: 1) { overview { personId } } }", False),  # a second root field
        ("{ person(id: 1) { overview { personId } insurance { insurance } } }", False),
        ("{ a: person(id: 1) { overview { personId } } b: person(id: 2) { overview { personId } } }", False),
        ("{ person(id: 1) { overview { ...F } } } fragment F on PersonOverviewType { personId }", False),
        ("{ person(id: 1) @include(if: true) { overview { personId } } }", False),
        ("{ person(id: 1) { overview { personId @skip(if: false) } } }", False),
        ("mutation { person(id: 1) { overview { personId } } }", False),
        ("{ unit(id: 1) { overview { name } } }", False),
    ],
)
def test_which_documents_are_overview_only(query: str, expected: bool) -> None:
    assert overview_only(parse(query)) is expected
