"""The query store stops (pg_ctl -m immediate) under load: every read answers 503 with Retry-After, never
500 and never hangs; after the restart reads recover without restarting the web process.

Sizes: 10 s down here (60 s in bench/). The bounds are liveness bounds.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from hub import migrations, pg
from sync.backfill import backfill
from tests.api.actors import cast
from tests.api.conftest import Api, Province, make_api
from tests.reliability.report import record, size
from tests.reliability.servers import private_postgres
from tests.replica.cluster import Server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

DOWN_SECONDS = size("QUERY_DOWN_SECONDS", 10.0)  # 60 s in bench/reliability.py
LIVENESS_SECONDS = 8.0  # above the 4 s pool checkout bound, below redis-py's 10 s retries
THREADS = 4


@pytest.fixture
def store_server() -> Iterator[Server]:
    with private_postgres("store") as server:
        yield server


def _hammer(api: Api, province: Province, seconds: float) -> tuple[Counter[int], list[float], set[str]]:
    """THREADS readers for ``seconds``: status counts, latencies and the Retry-After values seen on 503."""
    people = cast(province)
    person = people.actors["person_a"]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    retry_after: set[str] = set()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def reader() -> None:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            r = api.get(person, f"/api/v1/persons/{people.a}/overview")
            took = time.monotonic() - t0
            with lock:
                statuses[r.status_code] += 1
                latencies.append(took)
                if r.status_code == 503:
                    retry_after.add(r.headers.get("retry-after", ""))
                    assert r.headers["content-type"].startswith("application/problem+json")

    threads = [threading.Thread(target=reader) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
        assert not t.is_alive(), "a reader hung"
    return statuses, latencies, retry_after


def test_query_store_down_answers_503_then_recovers(province: Province, store_server: Server) -> None:
    query_url = store_server.url("query")
    pg.ensure_database(query_url)
    migrations.upgrade("query", query_url)
    backfill(province.core_url, query_url)
    with make_api(province.core_url, query_url, province.hub_url, province.redis_url) as api:
        statuses, _, _ = _hammer(api, province, 0.5)
        assert set(statuses) == {200}

        store_server.stop("immediate")
        statuses, latencies, retry_after = _hammer(api, province, DOWN_SECONDS)
        assert set(statuses) == {503}, statuses  # never 500, never a stale or partial answer
        assert retry_after and all(v.isdigit() and int(v) > 0 for v in retry_after), retry_after
        assert max(latencies) < LIVENESS_SECONDS, f"a read waited {max(latencies):.2f} s"

        down = {"seconds": DOWN_SECONDS, "statuses": dict(statuses), "max_latency_s": round(max(latencies), 3)}
        store_server.start()
        started = time.monotonic()
        deadline = started + 30  # liveness: the pool reconnects on its own
        while True:
            statuses, _, _ = _hammer(api, province, 0.5)
            if set(statuses) == {200}:
                break
            assert time.monotonic() < deadline, f"reads did not recover: {statuses}"
        record("query_store_down", **down, recovered_after_s=round(time.monotonic() - started, 2))
