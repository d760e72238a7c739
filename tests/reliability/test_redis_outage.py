"""Redis paused (SIGSTOP), then killed: reads keep answering quickly without a 5xx, sending SMS codes
fails closed with 503, and no request waits longer than the Redis timeout allows.

Sizes: 5 s of pause here (30 s in bench/). The bounds are liveness bounds: one request must not wait for
the ~10 s that redis-py's default retries would take.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from hub import pg
from tests.api.actors import cast
from tests.api.conftest import Api, Province, make_api
from tests.reliability.report import percentile, record, size
from tests.reliability.servers import PrivateRedis

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

PAUSE_SECONDS = size("REDIS_PAUSE_SECONDS", 5.0)  # 30 s in bench/reliability.py
LIVENESS_SECONDS = 2.0  # far above the 0.25 s Redis timeout, far below redis-py's retry loops


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.stop()


def _reads(api: Api, province: Province, seconds: float) -> list[tuple[int, float]]:
    people = cast(province)
    person = people.actors["person_a"]
    results = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        r = api.get(person, f"/api/v1/persons/{people.a}/overview")
        results.append((r.status_code, time.monotonic() - t0))
    return results


def _register(api: Api, province: Province) -> tuple[int, str]:
    """Ask for a registration code for a person the core knows (the code goes to the core's phone)."""
    with pg.connect(province.core_url) as core:
        row = core.execute(
            "select aac002, aac003 from core.ac01 where aac067 is not null order by aac001 limit 1"
        ).fetchone()
    assert row is not None
    # The login pages set Secure cookies outside development: talk to them as a browser would, over https.
    api.client.base_url = "https://testserver"
    form = api.client.get("/auth/register")
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.text))
    r = api.client.post(
        "/auth/register", data={**fields, "document_type": "01", "document_number": row[0], "name": row[1]}
    )
    return r.status_code, r.text


def _check(results: list[tuple[int, float]], phase: str) -> None:
    assert results, "no request finished"
    times = [t for _, t in results]
    record(
        f"redis_{phase}",
        reads=len(results),
        statuses=dict(Counter(s for s, _ in results)),
        p50_s=round(percentile(times, 0.5), 4),
        p99_s=round(percentile(times, 0.99), 4),
        max_s=round(max(times), 4),
    )
    statuses = {s for s, _ in results}
    assert statuses == {200}, statuses  # no 5xx, no 429 from a limiter that lost its store
    latencies = sorted(t for _, t in results)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    assert p99 < 1.0, f"p99 {p99:.3f} s over {len(latencies)} reads (median {statistics.median(latencies):.3f})"
    assert latencies[-1] < LIVENESS_SECONDS, f"one read waited {latencies[-1]:.3f} s"


def test_redis_paused_then_killed(province: Province, redis_server: PrivateRedis) -> None:
    with make_api(province.core_url, province.query_url, province.hub_url, redis_server.url) as api:
        _check(_reads(api, province, 0.5), "up")  # warm: Redis answering

        redis_server.pause()
        _check(_reads(api, province, PAUSE_SECONDS), "paused")
        t0 = time.monotonic()
        status, text = _register(api, province)
        assert time.monotonic() - t0 < LIVENESS_SECONDS
        assert status == 503, text[:500]
        assert "短信服务暂时不可用" in text

        redis_server.kill()
        _check(_reads(api, province, 1.0), "killed")
        status, text = _register(api, province)
        assert status == 503
        assert "短信服务暂时不可用" in text
