"""Rate limits: GCRA in Redis, 429 problem+json with Retry-After, and the local fallback without Redis."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from hub.access.ratelimit import Limit, LocalGcra, RateLimiter, Revoked
from hub.errors import RateLimited
from tests.api.actors import cast
from tests.api.conftest import Province, make_api

TIGHT = {"read": {"subject": Limit(1, 2)}, "graphql": {"subject": Limit(1, 2)}}
CLOSED_PORT = "redis://127.0.0.1:1/0"


def _hammer(province: Province, redis_url: str) -> None:
    c = cast(province)
    with make_api(province.core_url, province.query_url, province.hub_url, redis_url, rate_limits=TIGHT) as api:
        me = c.actors["person_a"]
        path = f"/api/v1/persons/{c.a}/overview"
        assert [api.get(me, path).status_code for _ in range(2)] == [200, 200]
        r = api.get(me, path)
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1
        body = r.json()
        assert body["type"].endswith("/rate-limited") and body["retry_after"] == int(r.headers["retry-after"])
        # Another subject is not affected.
        assert api.get(c.actors["person_b"], f"/api/v1/persons/{c.b}/overview").status_code == 200
        # GraphQL is its own route class with its own budget.
        assert [api.gql(me, "{ asOf }").status_code for _ in range(3)] == [200, 200, 429]


def test_429_with_retry_after_through_redis(province: Province) -> None:
    _hammer(province, province.redis_url)


def test_local_fallback_while_redis_is_unreachable(province: Province) -> None:
    _hammer(province, CLOSED_PORT)


def test_gcra_admits_the_burst_then_the_rate() -> None:
    gcra = LocalGcra()
    keys = [("k", Limit(rate=10, burst=3))]
    assert [gcra.check(keys) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 0 < gcra.check(keys) <= 0.1


def test_the_redis_script_refuses_all_keys_or_none(province: Province) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(province.redis_url)
        try:
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 1), "ip": Limit(100, 100)}}, prefix="rltest")
            ident = {"subject": f"s-{id(limiter)}", "ip": f"ip-{id(limiter)}"}
            await limiter.check("read", ident)
            try:
                await limiter.check("read", ident)
                raise AssertionError("second request within the interval must be refused")
            except RateLimited as exc:
                assert exc.retry_after >= 1
            # The refused request did not advance the IP key: 100 more requests from the IP pass for others.
            for i in range(50):
                await limiter.check("read", {"subject": f"other-{i}-{id(limiter)}", "ip": ident["ip"]})
            assert not limiter.using_fallback
        finally:
            await client.aclose()

    asyncio.run(run())


def test_one_script_call_checks_a_batch_in_order(province: Province) -> None:
    """Checks made together go to Redis as one call (hub.access.batching) and are taken in order: a
    revoked caller is refused alone and advances nothing; a shared key's burst binds inside the batch."""

    async def run() -> None:
        client = aioredis.Redis.from_url(province.redis_url)
        try:
            tag = uuid.uuid4().hex[:8]
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 2), "ip": Limit(100, 100)}}, prefix=f"rl{tag}")
            marker = f"rl{tag}:revoked"
            await client.set(marker, 1, ex=60)
            shared = {"subject": f"s-{tag}", "ip": f"ip-{tag}"}

            async def attempt(ident: dict[str, str], markers: tuple[str, ...] = ()) -> str:
                try:
                    await limiter.check("read", ident, markers)
                except Revoked:
                    return "revoked"
                except RateLimited as exc:
                    return f"429:{exc.retry_after}"
                return "ok"

            got = await asyncio.gather(
                attempt(shared, (marker,)),  # revoked first: it must not spend the subject's burst
                attempt(shared),
                attempt(shared, (f"rl{tag}:not-revoked",)),
                attempt(shared),  # burst 2 spent by the two before: 1 s to wait (GCRA, interval 1 s)
                attempt({"subject": f"t-{tag}", "ip": f"ip-{tag}"}),
                # Keys travel by byte length: a newline or a multibyte character in one cannot shift the others.
                attempt({"subject": f"u-{tag}\n1 2 3\n中文", "ip": f"ip-{tag}"}),
                attempt({"subject": f"u-{tag}\n1 2 3\n中文", "ip": f"ip-{tag}"}),
                attempt({"subject": f"u-{tag}\n1 2 3\n中文", "ip": f"ip-{tag}"}),
            )
            assert list(got) == ["revoked", "ok", "ok", "429:1", "ok", "ok", "ok", "429:1"]
            assert limiter.batcher.batches == 1 and limiter.batcher.items == 8
            assert await client.exists(f"rl{tag}:read:subject:u-{tag}\n1 2 3\n中文") == 1
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_batch_falls_back_to_the_local_limiter_when_redis_is_unreachable() -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(CLOSED_PORT, socket_connect_timeout=0.5)
        try:
            limiter = RateLimiter(client, {"read": {"subject": Limit(1, 2)}}, prefix="rlfallback")
            ident = {"subject": "s"}
            got = await asyncio.gather(*(limiter.check("read", ident) for _ in range(2)), return_exceptions=True)
            # Both admitted by the local limiter (burst 2), which now holds the limit on its own.
            assert got == [None, None] and limiter.using_fallback
            try:
                await limiter.check("read", ident)
                raise AssertionError("the local limiter's burst is 2")
            except RateLimited:
                pass
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_key_the_batch_shares_is_read_and_written_once_per_call() -> None:
    """Ten requests from one address, each its own subject, checked in one call: the address's key is read
    and written once (11 GETs and 11 SETs, where a GET and a SET per key and request made 20 and 20), and
    it ends as ten admissions one by one leave it: ten emission intervals (1 s each) past now. Intervals of
    seconds keep the keys alive (expiry = TAT − now + 1 ms) while the test reads them, however slow the
    machine."""
    from tests.reliability.servers import PrivateRedis

    server = PrivateRedis().start()  # its own Redis: the command counts are this test's alone

    async def run() -> None:
        client = aioredis.Redis.from_url(server.url)
        try:
            limiter = RateLimiter(client, {"read": {"subject": Limit(0.1, 5), "ip": Limit(1, 100)}}, prefix="rl")
            await client.config_resetstat()
            before = await client.time()
            got = await asyncio.gather(
                *(limiter.check("read", {"subject": f"s{i}", "ip": "shared"}) for i in range(10))
            )
            after = await client.time()
            assert got == [None] * 10 and limiter.batcher.batches == 1
            stats = await client.info("commandstats")
            assert stats["cmdstat_get"]["calls"] == 11
            assert stats["cmdstat_set"]["calls"] == 11
            # TAT in µs: the first admission sets now + 1,000,000, each next one adds 1,000,000.
            shared = await client.get("rl:read:ip:shared")
            assert shared is not None
            tat = int(shared)
            low, high = (s * 1_000_000 + us for s, us in (before, after))
            assert low + 10_000_000 <= tat <= high + 10_000_000
            assert 0 < await client.pttl("rl:read:ip:shared") <= 10_001
            # Each subject advanced once: one interval (10 s) past now.
            s9 = await client.get("rl:read:subject:s9")
            assert s9 is not None
            assert low + 10_000_000 <= int(s9) <= high + 10_000_000
        finally:
            await client.aclose()

    try:
        asyncio.run(run())
    finally:
        server.stop()
