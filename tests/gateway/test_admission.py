"""Admission on the fast path: the rate limiter's check (with the revocation markers) is begun, the overview
read's statement runs meanwhile, and nothing is decided, audited or answered until the caller is admitted
(gateway/fast.py ``_caller_begun``, ``_admitted_after``; hub/access/consistency.py ``PendingRead.admission``;
hub/access/ratelimit.py ``RateLimiter.begin``).

The overlap is observed in the test client's event loop: the limiter's batch runner is held on an event
while the query store's one statement (``consistency._once_on``) is watched; the order of "statement
answered", "limiter answered" and "answer started" is recorded.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import joserfc.jwt
import orjson
import pytest
import redis
import redis.asyncio as aioredis

from hub.access import consistency
from hub.access.ratelimit import Limit, RateLimiter, Revoked
from hub.access.subject import Subject
from hub.errors import RateLimited
from tests import dbkit
from tests.api.actors import app_person, cast
from tests.api.conftest import Api, Province, make_api
from tests.gateway.test_batched_reads import _asgi
from tests.gateway.test_fast_path import OVERVIEW, _app, _fast, api_redis_url

CLOSED_PORT = "redis://127.0.0.1:1/0"
HANG_GUARD = 20.0  # seconds: only so a broken run fails instead of hanging; nothing is timed
# One request per 100 s, burst 1: a subject's second request is refused (Retry-After 100).
ONE_EACH = {"read": {"subject": Limit(0.01, 1)}, "graphql": {"subject": Limit(0.01, 1)}}
UNAPPLIED = str(2**62)  # a consistency token the store never applies: the read waits for it

Answer = tuple[int, bytes, dict[bytes, bytes]]  # status, body, headers


# helpers ----------------------------------------------------------------------------------------------
def _rest(api: Api, subject: Subject, pid: int, rid: str, **headers: str) -> tuple[str, str, dict[str, str], bytes]:
    h = {"authorization": f"Bearer {api.token(subject)}", "x-request-id": rid, **headers}
    return ("GET", f"/api/v1/persons/{pid}/overview", h, b"")


def _gql(api: Api, subject: Subject, pid: int, rid: str, **headers: str) -> tuple[str, str, dict[str, str], bytes]:
    body = orjson.dumps({"query": OVERVIEW, "variables": {"id": str(pid)}})
    h = {
        "authorization": f"Bearer {api.token(subject)}",
        "x-request-id": rid,
        "content-type": "application/json",
        "content-length": str(len(body)),
        **headers,
    }
    return ("POST", "/graphql", h, body)


def _with_token(call: tuple[str, str, dict[str, str], bytes], token: str) -> tuple[str, str, dict[str, str], bytes]:
    method, path, headers, body = call
    return method, path, {**headers, "authorization": f"Bearer {token}"}, body


def _in_loop(api: Api, fn: Callable[[], Awaitable[Any]]) -> Any:
    portal = api.client.portal
    assert portal is not None
    return portal.call(fn)


def _send(api: Api, call: tuple[str, str, dict[str, str], bytes]) -> Answer:
    app = api.client.app

    async def run() -> Answer:
        return await _asgi(app, call)

    result: Answer = _in_loop(api, run)
    return result


def _audit_of(province: Province, rid: str) -> list[tuple[Any, ...]]:
    return dbkit.rows(
        province.hub_url, "select actor, action, target_id, result from hub.audit_log where request_id = %s", (rid,)
    )


def _audit_count_of_actor(province: Province, actor: str) -> int:
    (n,) = dbkit.one(province.hub_url, "select count(*) from hub.audit_log where actor = %s", (actor,))
    return int(n)


def _revoke(api: Api, token: str) -> None:
    """The marker the OAuth server's revocation writes (as test_token_problems_are_identical_on_both_paths)."""
    jti = joserfc.jwt.decode(token, api.keys.current).claims["jti"]
    prefix = _app(api).state.identity.cfg.settings.redis_prefix
    with redis.Redis.from_url(api_redis_url(api)) as r:
        r.set(f"{prefix}revoked:jti:{jti}", "1", ex=600)


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a


@pytest.fixture
def tight(province: Province) -> Iterator[Api]:
    with make_api(
        province.core_url, province.query_url, province.hub_url, province.redis_url, rate_limits=ONE_EACH
    ) as a:
        yield a


# 1. the read overlaps the limiter's call; the answer waits for the limiter -----------------------------
def _held(
    api: Api, call: tuple[str, str, dict[str, str], bytes], monkeypatch: pytest.MonkeyPatch, overlaps: bool = True
) -> tuple[list[str], bool, int, list[str], Answer]:
    """``call`` with the limiter's Redis call held until the read's statement has answered (``overlaps``), or
    for some loop passes (not ``overlaps``: no statement is expected before the limiter answers).

    Returns the events seen while the limiter was held, whether the request had finished by then, how many
    reads the overview batcher had taken by then (from before the request), all events, and the answer."""
    app = _app(api)
    fast = _fast(api)
    batcher = fast.batcher
    assert batcher is not None
    limiter: RateLimiter = app.state.rate_limiter
    real_once_on = consistency._once_on

    async def run() -> tuple[list[str], bool, int, list[str], Answer]:
        events: list[str] = []
        asked, gate, statement = asyncio.Event(), asyncio.Event(), asyncio.Event()
        real_run = limiter.batcher.run

        async def held(batch: Any) -> None:
            asked.set()
            await gate.wait()
            await real_run(batch)
            events.append("limiter")

        async def watched(*args: Any, **kw: Any) -> Any:
            got = await real_once_on(*args, **kw)
            events.append("statement")
            statement.set()
            return got

        monkeypatch.setattr(consistency, "_once_on", watched)
        limiter.batcher.run = held
        items = batcher.items
        try:
            task = asyncio.ensure_future(_asgi(app, call, events))
            await asyncio.wait_for(asked.wait(), HANG_GUARD)
            if overlaps:
                await asyncio.wait_for(statement.wait(), HANG_GUARD)
            for _ in range(20):
                await asyncio.sleep(0)  # give the request every chance to go on without the limiter
            while_held = list(events)
            done_while_held = task.done()
            read_while_held = batcher.items - items
            gate.set()
            answer = await asyncio.wait_for(task, HANG_GUARD)
        finally:
            gate.set()
            limiter.batcher.run = real_run
            monkeypatch.setattr(consistency, "_once_on", real_once_on)
        return while_held, done_while_held, read_while_held, events, answer

    result: tuple[list[str], bool, int, list[str], Answer] = _in_loop(api, run)
    return result


def test_rest_overview_reads_while_the_limiter_decides(
    api: Api, province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = cast(province)
    me = app_person(c.a)
    fast = _fast(api)
    served = fast.served
    rid = f"held-{uuid.uuid4().hex}"
    while_held, done, reads, events, (status, body, headers) = _held(api, _rest(api, me, c.a, rid), monkeypatch)
    # The statement was issued and answered while the limiter had not answered; nothing was answered.
    assert while_held == ["statement"] and not done and reads == 1
    # The answer started only after the limiter answered.
    assert events == ["statement", "limiter", "answer"]
    assert status == 200 and fast.served == served + 1
    assert orjson.loads(body)["data"]["person_id"] == c.a and headers[b"x-request-id"] == rid.encode()
    assert _audit_of(province, rid) == [(me.account_id, "person.overview", str(c.a), "ok")]


def test_graphql_plan_reads_while_the_limiter_decides(
    api: Api, province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = cast(province)
    me = app_person(c.a)
    fast = _fast(api)
    assert _send(api, _gql(api, me, c.a, f"warm-{uuid.uuid4().hex}"))[0] == 200  # validated: planned from now on
    planned = fast.planned
    rid = f"held-gql-{uuid.uuid4().hex}"
    while_held, done, reads, events, (status, body, _) = _held(api, _gql(api, me, c.a, rid), monkeypatch)
    assert while_held == ["statement"] and not done and reads == 1
    assert events == ["statement", "limiter", "answer"]
    assert status == 200 and fast.planned == planned + 1, "written by the plan"
    assert orjson.loads(body)["data"]["person"]["overview"]["personId"] == c.a
    assert _audit_of(province, rid) == [(me.account_id, "person.overview", str(c.a), "ok")]


@pytest.mark.parametrize("kind", ["rest", "graphql"])
def test_a_refusal_after_the_read_is_the_answer_and_is_not_audited(
    tight: Api, province: Province, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The read's statement ran while the limiter was held, and the limiter then refused: 429, no audit."""
    c = cast(province)
    me = app_person(c.a)
    make = _rest if kind == "rest" else _gql
    assert _send(tight, make(tight, me, c.a, f"spend-{uuid.uuid4().hex}"))[0] == 200  # the burst of 1
    before = _audit_count_of_actor(province, me.account_id)
    rid = f"held-refused-{uuid.uuid4().hex}"
    while_held, done, _, events, (status, body, headers) = _held(tight, make(tight, me, c.a, rid), monkeypatch)
    assert while_held == ["statement"] and not done
    assert events == ["statement", "limiter", "answer"]
    assert status == 429 and headers[b"retry-after"] == b"100", body
    assert orjson.loads(body)["status"] == 429
    assert _audit_of(province, rid) == []
    assert _audit_count_of_actor(province, me.account_id) == before


@pytest.mark.parametrize("kind", ["rest", "graphql"])
def test_a_caller_refused_lately_is_answered_before_any_read(
    tight: Api, province: Province, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Once this process refused a subject, its next requests (for the wait it was told) start no read
    before the limiter answers: a client over its limit costs the query store nothing."""
    c = cast(province)
    me = app_person(c.a)
    make = _rest if kind == "rest" else _gql
    assert _send(tight, make(tight, me, c.a, f"spend-{uuid.uuid4().hex}"))[0] == 200  # the burst of 1
    assert _send(tight, make(tight, me, c.a, f"refused-{uuid.uuid4().hex}"))[0] == 429  # remembered
    rid = f"doubted-{uuid.uuid4().hex}"
    while_held, done, reads, events, (status, _, headers) = _held(
        tight, make(tight, me, c.a, rid), monkeypatch, overlaps=False
    )
    assert while_held == [] and not done and reads == 0, "nothing read while the limiter had not answered"
    assert events == ["limiter", "answer"] and status == 429 and headers[b"retry-after"] == b"100"
    # Another subject at the same moment still reads while the limiter decides.
    other = app_person(c.a)
    while_held, _, reads, _, (status, _, _) = _held(
        tight, make(tight, other, c.a, f"o-{uuid.uuid4().hex}"), monkeypatch
    )
    assert while_held == ["statement"] and reads == 1 and status == 200


@pytest.mark.parametrize("kind", ["rest", "graphql"])
def test_a_read_with_a_consistency_token_waits_for_its_admission_first(
    tight: Api, province: Province, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A read with a consistency token may wait for the store: it starts only once the caller is admitted,
    so a refusal is answered at once, as by the FastAPI route."""
    c = cast(province)
    me = app_person(c.a)
    make = _rest if kind == "rest" else _gql
    rid = f"token-{uuid.uuid4().hex}"
    call = make(tight, me, c.a, rid, **{"x-consistency-token": "1"})  # applied long ago: answers at once
    while_held, done, reads, events, (status, _, _) = _held(tight, call, monkeypatch, overlaps=False)
    assert while_held == [] and not done and reads == 0
    assert events == ["limiter", "statement", "answer"] and status == 200
    # Over the limit with a token the store never applies: the refusal, at once (no wait for the token).
    status, body, headers = _send(
        tight, make(tight, me, c.a, f"t2-{uuid.uuid4().hex}", **{"x-consistency-token": UNAPPLIED})
    )
    assert status == 429 and headers[b"retry-after"] == b"100", body


# 2. refused requests write no audit record; admitted ones exactly one --------------------------------------
@pytest.mark.parametrize("kind", ["rest", "graphql"])
def test_rate_limited_and_revoked_write_no_audit_record(tight: Api, province: Province, kind: str) -> None:
    c = cast(province)
    fast = _fast(tight)
    make = _rest if kind == "rest" else _gql

    # Rate limited: the first request of the subject is admitted (one record), the second refused (none).
    me = app_person(c.a)
    admitted, limited = f"adm-{uuid.uuid4().hex}", f"lim-{uuid.uuid4().hex}"
    served = fast.served
    assert _send(tight, make(tight, me, c.a, admitted))[0] == 200
    assert _audit_count_of_actor(province, me.account_id) == 1
    status, body, headers = _send(tight, make(tight, me, c.a, limited))
    assert status == 429 and headers[b"retry-after"] == b"100", body
    assert fast.served == served + 2, "both answered by the fast path"
    assert _audit_of(province, admitted) == [(me.account_id, "person.overview", str(c.a), "ok")]
    assert _audit_of(province, limited) == []
    assert _audit_count_of_actor(province, me.account_id) == 1

    # Revoked: a fresh subject (its burst unspent), its token's revocation marker set.
    other = app_person(c.a, grant_id=f"g-{uuid.uuid4().hex}")
    token = tight.token(other)
    _revoke(tight, token)
    rid = f"rev-{uuid.uuid4().hex}"
    served = fast.served
    status, body, headers = _send(tight, _with_token(make(tight, other, c.a, rid), token))
    assert status == 401 and headers[b"www-authenticate"].startswith(b"Bearer"), body
    assert fast.served == served + 1
    assert _audit_of(province, rid) == []
    assert _audit_count_of_actor(province, other.account_id) == 0


# 3. the refusal wins over the read's failure ---------------------------------------------------------------
def test_over_the_limit_with_the_store_down_is_429_on_both_paths(tight: Api, province: Province) -> None:
    c = cast(province)
    app, on = _app(tight), _fast(tight)
    gql_warm = app_person(c.a)
    assert _send(tight, _gql(tight, gql_warm, c.a, f"warm-{uuid.uuid4().hex}"))[0] == 200  # the plan exists
    pools = app.state.pools
    tight.client.portal.call(pools.query.close)  # type: ignore[union-attr]

    for make in (_rest, _gql):
        answers: list[Answer] = []
        for fast_reads in (on, None):
            me = app_person(c.a)  # a subject of its own per path
            rid = f"down-{uuid.uuid4().hex}"
            app.fast_reads = fast_reads
            served = on.served
            try:
                first = _send(tight, make(tight, me, c.a, f"first-{uuid.uuid4().hex}"))
                second = _send(tight, make(tight, me, c.a, rid))
            finally:
                app.fast_reads = on
            # The first is admitted and fails on the store; the second is over the limit.
            assert first[0] == 503 and first[2][b"retry-after"] == b"5", first
            if fast_reads is on:
                assert on.served == served + 2, "the fast path answered both"
            answers.append((second[0], second[1].replace(rid.encode(), b"RID"), second[2]))
        (s1, b1, h1), (s2, b2, h2) = answers
        assert s1 == s2 == 429, (b1, b2)
        assert h1[b"retry-after"] == h2[b"retry-after"] == b"100"
        assert b1 == b2 and orjson.loads(b1)["retry_after"] == 100


# 4. RateLimiter.begin ------------------------------------------------------------------------------------
async def _outcome(admission: Awaitable[None]) -> str:
    try:
        await admission
    except Revoked:
        return "revoked"
    except RateLimited as exc:
        return f"429:{exc.retry_after}"
    return "ok"


def test_begin_raises_as_check_does(province: Province) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(province.redis_url)
        try:
            tag = uuid.uuid4().hex[:8]
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 1)}}, prefix=f"rlb{tag}")
            marker = f"rlb{tag}:revoked"
            await client.set(marker, 1, ex=60)
            begun = [await _outcome(limiter.begin("read", {"subject": f"b-{tag}"})) for _ in range(2)]
            checked = [await _outcome(limiter.check("read", {"subject": f"c-{tag}"})) for _ in range(2)]
            assert begun == checked == ["ok", "429:1"]
            assert await _outcome(limiter.begin("read", {"subject": f"r-{tag}"}, (marker,))) == "revoked"
            assert await _outcome(limiter.check("read", {"subject": f"s-{tag}"}, (marker,))) == "revoked"
            # A revoked caller spent nothing: the same subject without the marker is admitted.
            assert await _outcome(limiter.begin("read", {"subject": f"r-{tag}"})) == "ok"
        finally:
            await client.aclose()

    asyncio.run(run())


def test_begin_queues_the_check_when_called_not_when_awaited(province: Province) -> None:
    """A check begun first is decided first, even if awaited after a later one (burst 1: one is admitted)."""

    async def run() -> None:
        client = aioredis.Redis.from_url(province.redis_url)
        try:
            tag = uuid.uuid4().hex[:8]
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 1)}}, prefix=f"rlq{tag}")
            ident = {"subject": f"q-{tag}"}
            first = limiter.begin("read", ident)
            later = await _outcome(limiter.check("read", ident))
            assert (await _outcome(first), later) == ("ok", "429:1")
            assert limiter.batcher.batches == 1 and limiter.batcher.items == 2
        finally:
            await client.aclose()

    asyncio.run(run())


def test_begin_with_nothing_to_check_is_admitted_without_redis() -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(CLOSED_PORT, socket_connect_timeout=0.5)
        try:
            limiter = RateLimiter(client, {"read": {}, "graphql": {"subject": Limit(1, 1)}}, prefix="rlnone")
            assert await _outcome(limiter.begin("read", {"subject": "s", "ip": "198.51.100.1"})) == "ok"
            # Limits for subjects only, and no subject: no key either.
            assert await _outcome(limiter.begin("graphql", {"subject": None, "ip": "198.51.100.1"})) == "ok"
            assert limiter.batcher.batches == 0 and not limiter.using_fallback  # Redis was not asked
        finally:
            await client.aclose()

    asyncio.run(run())


def test_begin_falls_back_to_the_local_limiter_when_redis_is_unreachable() -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(CLOSED_PORT, socket_connect_timeout=0.5)
        try:
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 2)}}, prefix="rlfall")
            begun = [limiter.begin("read", {"subject": "s"}) for _ in range(3)]
            got = [await _outcome(b) for b in begun]
            # One failed Redis call for the three; the local limiter (burst 2) refused the third.
            assert got == ["ok", "ok", "429:1"] and limiter.using_fallback
            assert limiter.batcher.batches == 1 and limiter.batcher.items == 3
            # While down: Redis is not asked again; the local limiter holds the limit, markers are not checked.
            assert await _outcome(limiter.begin("read", {"subject": "s"})) == "429:1"
            assert await _outcome(limiter.begin("read", {"subject": "t"}, ("rlfall:revoked",))) == "ok"
            assert limiter.batcher.batches == 1
        finally:
            await client.aclose()

    asyncio.run(run())


def test_begun_checks_of_one_loop_pass_share_one_batch(province: Province) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(province.redis_url)
        try:
            tag = uuid.uuid4().hex[:8]
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 2)}}, prefix=f"rlp{tag}")
            begun = [limiter.begin("read", {"subject": f"p-{tag}"}) for _ in range(3)]
            begun.append(limiter.begin("read", {"subject": f"o-{tag}"}))
            await asyncio.sleep(0)  # the flush runs; nothing awaited the checks yet
            await asyncio.sleep(0)
            got = [await _outcome(b) for b in begun]
            assert got == ["ok", "ok", "429:1", "ok"]
            assert limiter.batcher.batches == 1 and limiter.batcher.items == 4
            # A later pass is another batch.
            assert await _outcome(limiter.begin("read", {"subject": f"o-{tag}"})) == "ok"
            assert limiter.batcher.batches == 2
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_cancelled_check_does_not_fail_the_others_of_its_batch(province: Province) -> None:
    """A request cancelled (response deadline) while it awaits its admission cancels that check's future; the
    other checks of the same Redis call must still get their own answers."""

    async def run() -> None:
        client = aioredis.Redis.from_url(province.redis_url)
        try:
            tag = uuid.uuid4().hex[:8]
            limiter = RateLimiter(client, {"read": {"subject": Limit(100, 100)}}, prefix=f"rlx{tag}")
            cancelled = asyncio.ensure_future(limiter.check("read", {"subject": f"x-{tag}"}))
            await asyncio.sleep(0)  # queued first
            other = limiter.begin("read", {"subject": f"y-{tag}"})
            await asyncio.sleep(0)  # the batch's script call is under way
            cancelled.cancel()
            outcome = list(await asyncio.gather(other, return_exceptions=True))
            assert outcome == [None], outcome
            assert limiter.batcher.batches == 1 and limiter.batcher.items == 2
        finally:
            await client.aclose()

    asyncio.run(run())


# 5. a cancelled fast read leaves nothing unawaited or unretrieved -----------------------------------------
class _Leaks:
    """Warnings (never-awaited coroutines) and loop exception reports (never-retrieved exceptions)."""

    def __init__(self) -> None:
        self.warnings: list[warnings.WarningMessage] = []
        self.reports: list[dict[str, Any]] = []

    def found(self) -> list[str]:
        return [str(w.message) for w in self.warnings] + [str(r.get("message")) for r in self.reports]


@contextmanager
def _watching(api: Api) -> Iterator[_Leaks]:
    """Record what a leak would report, in the test client's loop and in ``warnings``; the discarded
    admissions are let finish and the garbage collected before it ends."""
    leaks = _Leaks()

    async def install() -> Any:
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda _loop, context: leaks.reports.append(context))
        return previous

    async def settle() -> None:
        async def drained() -> None:
            while consistency._discarded:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(drained(), HANG_GUARD)

    async def restore(previous: Any) -> None:
        asyncio.get_running_loop().set_exception_handler(previous)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        previous = _in_loop(api, install)
        try:
            yield leaks
            _in_loop(api, settle)
            for _ in range(3):
                gc.collect()
                _in_loop(api, lambda: asyncio.sleep(0))
        finally:
            _in_loop(api, lambda: restore(previous))
    leaks.warnings = [w for w in seen if not issubclass(w.category, ResourceWarning)]  # ignored by the config


def test_the_leak_watch_sees_leaks(api: Api) -> None:
    """The watch of the test below reports an unawaited coroutine and an unretrieved task exception."""

    async def refused() -> None:
        raise RateLimited(1.0)

    async def leak() -> None:
        leaked = refused()
        del leaked  # never awaited
        task = asyncio.ensure_future(refused())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert task.done()
        del task

    with _watching(api) as leaks:
        _in_loop(api, leak)
    found = leaks.found()
    assert any("was never awaited" in f for f in found), found
    assert any("exception was never retrieved" in f for f in found), found


def test_a_cancelled_fast_read_leaves_nothing_unawaited(province: Province) -> None:
    """The response deadline passes while the read waits for a consistency token the store never applies:
    the admission (admitted, rate limited or revoked) is let finish unused, with nothing left unawaited."""
    c = cast(province)
    with make_api(
        province.core_url,
        province.query_url,
        province.hub_url,
        province.redis_url,
        rate_limits=ONE_EACH,
        consistency_timeout=30.0,
        web={"request_timeout_seconds": 1.0},
    ) as api:
        fast = _fast(api)
        warm = app_person(c.a)
        assert _send(api, _gql(api, warm, c.a, f"warm-{uuid.uuid4().hex}"))[0] == 200  # the plan exists
        calls = []
        for make in (_rest, _gql):
            calls.append(
                make(api, app_person(c.a), c.a, f"cx-ok-{uuid.uuid4().hex}", **{"x-consistency-token": UNAPPLIED})
            )
            spent = app_person(c.a)
            assert _send(api, make(api, spent, c.a, f"spend-{uuid.uuid4().hex}"))[0] == 200
            calls.append(make(api, spent, c.a, f"cx-429-{uuid.uuid4().hex}", **{"x-consistency-token": UNAPPLIED}))
            revoked = app_person(c.a, grant_id=f"g-{uuid.uuid4().hex}")
            token = api.token(revoked)
            _revoke(api, token)
            call = make(api, revoked, c.a, f"cx-401-{uuid.uuid4().hex}", **{"x-consistency-token": UNAPPLIED})
            calls.append(_with_token(call, token))
        served, planned = fast.served, fast.planned
        with _watching(api) as leaks:
            answers = [_send(api, call) for call in calls]
        for (status, body, headers), call in zip(answers, calls, strict=True):
            rid = call[2]["x-request-id"]
            refusal = 429 if rid.startswith("cx-429-") else 401 if rid.startswith("cx-401-") else None
            # The admitted read is cut by the deadline; a refused caller is answered its refusal at once (a
            # read with a token starts only after the admission), as by FastAPI.
            if refusal is None:
                assert status == 503 and headers[b"retry-after"] == b"5", (rid, status, body)
                assert orjson.loads(body)["detail"] == "系统繁忙，请稍后再试"
            else:
                assert status == refusal, (rid, status, body)
            assert _audit_of(province, rid) == []
        assert fast.served == served + len(calls) and fast.planned == planned  # no plan finished its answer
        assert leaks.found() == []
        assert not consistency._discarded
