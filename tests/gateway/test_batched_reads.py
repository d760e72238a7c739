"""Batched reads on the fast path (``HUB_BATCH_READS``): requests in flight together share one Redis call for
their rate-limit checks and one query-store statement for their overview reads, and each still gets the
answer, the refusal, the masking and the one audit record it gets alone.

The requests are sent concurrently through the app's ASGI interface inside the test client's event loop
(``asyncio.gather``), so they reach the coalescers in the same pass of the loop; each answer is compared
with the same request sent alone, and the batchers' counters show the batches were shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from gateway.fast import FastReads, GatewayApp
from hub.access.subject import Channel, Subject
from tests import dbkit
from tests.api.actors import MISSING_PERSON, app_person, cast
from tests.api.conftest import Api, Province, make_api

OVERVIEW_GQL = "query($id: ID!) { person(id: $id) { overview { personId name idNumber phone regionCode } } }"


def _fast(api: Api) -> FastReads:
    app = api.client.app
    assert isinstance(app, GatewayApp) and app.fast_reads is not None
    return app.fast_reads


Call = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


def _rest(api: Api, subject: Subject, path: str, rid: str, **headers: str) -> Call:
    h = {"authorization": f"Bearer {api.token(subject)}", "x-request-id": rid, **headers}
    return ("GET", path, h, b"")


def _gql(api: Api, subject: Subject, pid: int | str, rid: str) -> Call:
    body = orjson.dumps({"query": OVERVIEW_GQL, "variables": {"id": str(pid)}})
    h = {
        "authorization": f"Bearer {api.token(subject)}",
        "x-request-id": rid,
        "content-type": "application/json",
        "content-length": str(len(body)),
    }
    return ("POST", "/graphql", h, body)


async def _asgi(app: Any, call: Call, events: list[str] | None = None) -> tuple[int, bytes, dict[bytes, bytes]]:
    """One request through the app's ASGI interface; "answer" is appended to ``events`` when it starts."""
    method, path, headers, body = call
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.7", 40000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False
    status, chunks, got = 0, [], {}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the fast path reads the body once
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            got.update(message.get("headers", []))
            if events is not None:
                events.append("answer")
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks), got


Answer = tuple[int, bytes, dict[bytes, bytes]]  # status, body, headers


def together(api: Api, calls: list[Call]) -> list[Answer]:
    """The answers of ``calls`` sent concurrently (one pass of the loop reaches every coalescer)."""
    app = api.client.app

    async def run() -> list[Answer]:
        return list(await asyncio.gather(*(_asgi(app, c) for c in calls)))

    portal = api.client.portal
    assert portal is not None
    return portal.call(run)


def alone(api: Api, calls: list[Call]) -> list[Answer]:
    return [together(api, [c])[0] for c in calls]


def _counts(fast: FastReads, api: Api) -> tuple[int, int, int, int]:
    assert fast.batcher is not None
    app = api.client.app
    assert isinstance(app, GatewayApp)
    limiter = app.state.rate_limiter.batcher
    return fast.batcher.batches, fast.batcher.items, limiter.batches, limiter.items


def _audit(province: Province, rid: str) -> list[tuple[Any, ...]]:
    return dbkit.rows(
        province.hub_url,
        "select actor, action, target_id, result from hub.audit_log where request_id = %s",
        (rid,),
    )


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


def test_concurrent_reads_share_one_statement_and_answer_as_alone(api: Api, province: Province) -> None:
    c = cast(province)
    a, b = app_person(c.a), app_person(c.b)
    kiosk = app_person(c.a, Channel.KIOSK)
    fast = _fast(api)

    def calls(tag: str) -> list[Call]:
        return [
            _rest(api, a, f"/api/v1/persons/{c.a}/overview", f"{tag}-own"),
            _rest(api, a, f"/api/v1/persons/{c.a}/overview", f"{tag}-own-again"),  # the same row twice
            _rest(api, b, f"/api/v1/persons/{c.a}/overview", f"{tag}-other"),  # refused: B asks for A
            _rest(api, a, f"/api/v1/persons/{MISSING_PERSON}/overview", f"{tag}-missing"),
            _rest(api, b, f"/api/v1/persons/{c.b}/overview", f"{tag}-b"),
            _rest(api, kiosk, f"/api/v1/persons/{c.a}/overview", f"{tag}-kiosk"),  # another channel's masking
            _gql(api, a, c.a, f"{tag}-gql"),
            _gql(api, b, c.a, f"{tag}-gql-other"),
        ]

    single = alone(api, calls("alone"))
    before = _counts(fast, api)
    shared = together(api, calls("together"))
    reads, read_items, checks, check_items = (x - y for x, y in zip(_counts(fast, api), before, strict=True))
    # Eight reads and eight limiter checks in one batch each (alone, each was a batch of one).
    assert (reads, read_items) == (1, 8) and (checks, check_items) == (1, 8)

    for (s1, b1, _), (s2, b2, _) in zip(single, shared, strict=True):
        assert s1 == s2 and b1.replace(b"alone-", b"") == b2.replace(b"together-", b""), (b1, b2)
    statuses = [s for s, _, _ in shared]
    assert statuses == [200, 200, 404, 404, 200, 200, 200, 200]
    own = orjson.loads(shared[0][1])["data"]
    number = province.persons[c.a]["id_number"]
    assert own["person_id"] == c.a and own["id_number"] == number[:3] + "*" * 11 + number[-4:]
    assert orjson.loads(shared[4][1])["data"]["person_id"] == c.b
    gql_other = orjson.loads(shared[7][1])
    assert gql_other["data"] is None and gql_other["errors"][0]["extensions"]["type"].endswith("/not-found")

    # One audit record per request, with its own outcome.
    expected = {
        "own": "ok",
        "own-again": "ok",
        "other": "not_found",
        "missing": "not_found",
        "b": "ok",
        "kiosk": "ok",
        "gql": "ok",
        "gql-other": "not_found",
    }
    for name, result in expected.items():
        rows = _audit(province, f"together-{name}")
        assert len(rows) == 1 and rows[0][1] == "person.overview" and rows[0][3] == result, (name, rows)


def test_a_read_with_a_consistency_token_is_not_batched(api: Api, province: Province) -> None:
    c = cast(province)
    a = app_person(c.a)
    fast = _fast(api)
    before = _counts(fast, api)
    answers = together(
        api,
        [
            _rest(api, a, f"/api/v1/persons/{c.a}/overview", "tok-1", **{"x-consistency-token": "3"}),
            _rest(api, a, f"/api/v1/persons/{c.a}/overview", "tok-2"),
        ],
    )
    assert [s for s, _, _ in answers] == [200, 200]
    reads, read_items, _, _ = (x - y for x, y in zip(_counts(fast, api), before, strict=True))
    assert (reads, read_items) == (1, 1)  # only the token-less read went through the batcher


def test_a_limit_binds_inside_one_batch(province: Province) -> None:
    """Burst 3 for a subject: of ten requests in one batch exactly three are admitted (GCRA: the k-th
    request at one instant needs k - 1 emission intervals of tolerance, and 3 × 1 s covers 0, 1 and 2),
    the seven others get 429 with Retry-After 1 (the fourth would need 3 s of tolerance, 1 s more)."""
    from hub.access.ratelimit import DEFAULT_LIMITS, Limit

    limits = {k: dict(v) for k, v in DEFAULT_LIMITS.items()}
    limits["read"] = {"subject": Limit(1, 3), "client": Limit(1000, 1000), "ip": Limit(1000, 1000)}
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, rate_limits=limits
    ) as api:
        c = cast(province)
        a = app_person(c.a)
        answers = together(api, [_rest(api, a, f"/api/v1/persons/{c.a}/overview", f"burst-{i}") for i in range(10)])
        statuses = [s for s, _, _ in answers]
        assert statuses.count(200) == 3 and statuses.count(429) == 7, statuses
        assert statuses[:3] == [200, 200, 200]  # taken in the order they were queued
        refused = orjson.loads(answers[5][1])
        assert refused["status"] == 429 and answers[5][2][b"retry-after"] == b"1"


def test_batching_switched_off(province: Province) -> None:
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, batch_reads=False
    ) as api:
        c = cast(province)
        assert _fast(api).batcher is None
        answers = together(api, [_rest(api, app_person(c.a), f"/api/v1/persons/{c.a}/overview", "off-1")] * 3)
        assert [s for s, _, _ in answers] == [200, 200, 200]
