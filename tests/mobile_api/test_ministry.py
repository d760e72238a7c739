"""部端 listings through the ministry client: timeouts, the Redis cache and the circuit breaker, against the
fixture service running as a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest

from mobile_api.ministry import BreakerState, CircuitBreaker, MinistryClient, MinistryConfig, MinistryUnavailable
from mobile_api.ministry_fixture import JOB_FAIRS, JOBS, MinistryFixture
from tests.api.conftest import Api, Province
from tests.mobile_api.conftest import use_ministry

UNAVAILABLE = "暂时无法获取，请稍后再试"


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state


def _prefix() -> str:
    return f"test:ministry:{uuid.uuid4().hex}:"


def _unavailable(r: object) -> None:
    assert r.status_code == 503, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["code"] == "MINISTRY_UNAVAILABLE"
    assert body["detail"] == UNAVAILABLE
    assert int(r.headers["retry-after"]) >= 1  # type: ignore[attr-defined]


def test_listings_are_paged_by_cursor(api: Api, province: Province, ministry: MinistryFixture) -> None:
    use_ministry(api, ministry, redis_prefix=_prefix())
    first = api.get(None, "/app/v1/ministry/job-fairs")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["source"] == "人力资源和社会保障部"
    assert [f["id"] for f in body["data"]] == [f["id"] for f in JOB_FAIRS[:10]]
    second = api.get(None, "/app/v1/ministry/job-fairs", params={"cursor": body["next_cursor"]}).json()
    assert [f["id"] for f in second["data"]] == [f["id"] for f in JOB_FAIRS[10:]]
    assert second["next_cursor"] is None
    jobs = api.get(None, "/app/v1/ministry/jobs", params={"keyword": "护士"}).json()["data"]
    assert jobs and {j["title"] for j in jobs} == {"护士"}
    assert len(jobs) == sum(1 for j in JOBS if j["title"] == "护士")
    exams = api.get(None, "/app/v1/ministry/exams").json()["data"]
    assert any("公务员" in e["title"] for e in exams)


def test_answers_are_cached_briefly_in_redis(api: Api, province: Province, ministry: MinistryFixture) -> None:
    use_ministry(api, ministry, cache_ttl=30, redis_prefix=_prefix())
    assert api.get(None, "/app/v1/ministry/exams").status_code == 200
    assert api.get(None, "/app/v1/ministry/exams").status_code == 200
    assert ministry.behaviour.served == 1
    ministry.set(fail=True)
    assert api.get(None, "/app/v1/ministry/exams").status_code == 200  # from the cache
    _unavailable(api.get(None, "/app/v1/ministry/jobs"))  # not cached: the ministry's failure shows


def test_breaker_fail_open_half_open_closed(api: Api, province: Province, ministry: MinistryFixture) -> None:
    client = use_ministry(api, ministry, cache_ttl=0, failure_threshold=2, reset_after=0.5, timeout=1.0)
    url = "/app/v1/ministry/exams"
    assert api.get(None, url).status_code == 200
    assert state_of(client.breaker) is BreakerState.CLOSED

    ministry.set(fail=True)
    _unavailable(api.get(None, url))
    assert state_of(client.breaker) is BreakerState.CLOSED  # one failure of two
    _unavailable(api.get(None, url))
    assert state_of(client.breaker) is BreakerState.OPEN
    served = ministry.behaviour.served
    assert served == 3

    # Open: calls fail at once and never reach the ministry, even once it has recovered.
    ministry.set(fail=False)
    _unavailable(api.get(None, url))
    assert ministry.behaviour.served == served

    time.sleep(0.6)
    assert state_of(client.breaker) is BreakerState.HALF_OPEN
    assert api.get(None, url).status_code == 200  # the trial call succeeds
    assert ministry.behaviour.served == served + 1
    assert state_of(client.breaker) is BreakerState.CLOSED


def test_failed_trial_reopens(api: Api, province: Province, ministry: MinistryFixture) -> None:
    client = use_ministry(api, ministry, cache_ttl=0, failure_threshold=1, reset_after=0.4, timeout=1.0)
    url = "/app/v1/ministry/job-fairs"
    ministry.set(fail=True)
    _unavailable(api.get(None, url))
    assert state_of(client.breaker) is BreakerState.OPEN
    time.sleep(0.5)
    _unavailable(api.get(None, url))  # the trial fails: open again for another pause
    assert ministry.behaviour.served == 2
    assert state_of(client.breaker) is BreakerState.OPEN
    _unavailable(api.get(None, url))
    assert ministry.behaviour.served == 2


def test_slow_ministry_times_out(api: Api, province: Province, ministry: MinistryFixture) -> None:
    client = use_ministry(api, ministry, cache_ttl=0, timeout=0.3, failure_threshold=5)
    ministry.set(delay=5.0)
    started = time.monotonic()
    _unavailable(api.get(None, "/app/v1/ministry/jobs"))
    assert time.monotonic() - started < 3.0  # liveness: the app does not wait for the 5 s answer
    assert state_of(client.breaker) is BreakerState.CLOSED  # one failure counted, threshold 5


def test_refused_connection_is_unavailable(api: Api, province: Province) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on a port just released: the connection is refused.
    state = api.client.app.state  # type: ignore[attr-defined]
    state.ministry = MinistryClient(MinistryConfig(base_url=f"http://127.0.0.1:{port}", cache_ttl=0), state.redis)
    _unavailable(api.get(None, "/app/v1/ministry/exams"))


def test_malformed_answer_counts_as_failure(api: Api, province: Province, ministry: MinistryFixture) -> None:
    client = use_ministry(api, ministry, cache_ttl=0, failure_threshold=1)
    # The listing paths answer objects; an unknown one answers 404 — both count against the ministry.
    assert state_of(client.breaker) is BreakerState.CLOSED

    async def ask() -> None:
        await client.get("/v1/nothing", {}, lambda body: body["items"])

    with pytest.raises(MinistryUnavailable):
        asyncio.run(ask())
    assert state_of(client.breaker) is BreakerState.OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_state_machine() -> None:
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=3, reset_after=10, clock=clock)
    b.failure()
    b.failure()
    b.success()  # a success resets the count of consecutive failures
    b.failure()
    b.failure()
    assert state_of(b) is BreakerState.CLOSED and b.allow()
    b.failure()
    assert state_of(b) is BreakerState.OPEN and not b.allow()
    clock.now = 7.2
    assert b.retry_after() == 3  # 2.8 s left, rounded up
    clock.now = 10.0
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.allow()  # the one trial
    assert not b.allow()  # nobody else while it runs
    b.success()
    assert state_of(b) is BreakerState.CLOSED and b.allow()
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0, reset_after=1)
