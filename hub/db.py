"""Connection pools of a web process: the hub DB (writes), the query store (reads) and its replicas.

Read and write connections have distinct types, so a repository that takes a ``ReadConnection`` cannot
be handed the hub DB by mistake and the type checker refuses writes through a read path.

Replica freshness is measured with LSN probes, not with ``pg_last_xact_replay_timestamp()`` (which
grows without bound on an idle primary although the replica misses nothing): every check reads the
primary's flushed WAL position ``P`` at time ``t``, then each replica's replayed position. A replica
that has replayed ``P`` holds every transaction the primary had committed at ``t``; so a replica's
``fresh_as_of`` is the newest probe time whose position it has replayed, and it serves reads only
while ``now - fresh_as_of`` stays within ``HUB_QUERY_REPLICA_MAX_LAG_SECONDS``. A replica whose
replay stops, that refuses connections or is shut down thus drops out within that bound (at once
when a check fails), and comes back as soon as a check sees it caught up. Nothing here raises into a
read: the router in ``hub.access.consistency`` falls back to the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, NewType
from urllib.parse import urlsplit

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hub import pg

log = logging.getLogger(__name__)

ReadConnection = NewType("ReadConnection", AsyncConnection[Any])  # query store (replica or primary)
WriteConnection = NewType("WriteConnection", AsyncConnection[Any])  # hub DB

NEVER = float("-inf")


async def _configure(conn: AsyncConnection[Any]) -> None:
    await conn.execute("set timezone = 'UTC'")
    await conn.commit()


async def _configure_read(conn: AsyncConnection[Any]) -> None:
    """Query-store connections are read only and in autocommit: a read snapshot (``hub.access.consistency``)
    opens its REPEATABLE READ transaction itself, in the same round trip as its first query."""
    await conn.execute("set timezone = 'UTC'")
    await conn.execute("set default_transaction_read_only = on")
    await conn.commit()
    await conn.set_autocommit(True)


# A web request waits at most this long for a pooled connection (a server that is down or saturated
# answers 503 with Retry-After instead of holding the client for psycopg-pool's default 30 s).
CHECKOUT_SECONDS = 4.0
CONNECT_SECONDS = 3


def _pool(
    url: str, size: int, *, connect_timeout: int = CONNECT_SECONDS, read: bool = False
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    kwargs: dict[str, Any] = {"application_name": "hub-web", "connect_timeout": connect_timeout}
    return AsyncConnectionPool(
        pg.libpq(url),
        min_size=1,
        max_size=size,
        configure=_configure_read if read else _configure,
        open=False,
        kwargs=kwargs,
        timeout=CHECKOUT_SECONDS,
    )


def server_label(url: str) -> str:
    """host:port/database of a URL, without user or password (for logs and metrics)."""
    parts = urlsplit(pg.libpq(url))
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{host}/{parts.path.lstrip('/')}"


@dataclass
class Replica:
    """One streaming replica of the query store and what the last checks learnt about it."""

    url: str
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    label: str
    size: int
    fresh_as_of: float = NEVER  # monotonic time up to which it holds every primary commit
    up: bool = False
    failures: int = 0
    lagging: bool = False
    _probe: AsyncConnection[Any] | None = field(default=None, repr=False)

    def lag(self, now: float | None = None) -> float:
        """Seconds of primary commits this replica may be missing (inf when down or unknown)."""
        return (time.monotonic() if now is None else now) - self.fresh_as_of

    def mark_down(self, reason: str) -> None:
        if self.up:
            log.warning("query replica %s out of rotation: %s", self.label, reason)
        self.up = False
        self.lagging = False
        self.fresh_as_of = NEVER


class ReplicaSet:
    """The replicas of one query store, their measured freshness, and which one serves the next read."""

    def __init__(
        self,
        primary_url: str,
        replicas: list[Replica],
        *,
        max_lag: float,
        check_interval: float,
    ) -> None:
        self.primary_url = primary_url
        self.replicas = replicas
        self.max_lag = max_lag
        self.check_interval = check_interval
        self.served: Counter[str] = Counter()  # reads opened per server label ("primary" for the primary)
        self._probes: deque[tuple[float, int]] = deque()  # (monotonic time, primary flush LSN), oldest first
        self._primary_probe: AsyncConnection[Any] | None = None
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.checks = 0  # completed check rounds

    # choosing ---------------------------------------------------------------------------------
    def fresh(self) -> list[Replica]:
        now = time.monotonic()
        return [r for r in self.replicas if r.up and r.lag(now) <= self.max_lag]

    def pick(self) -> Replica | None:
        """A fresh replica, round robin; None sends the read to the primary."""
        fresh = self.fresh()
        return fresh[next(self._turn) % len(fresh)] if fresh else None

    # measuring --------------------------------------------------------------------------------
    async def _connect(self, url: str) -> AsyncConnection[Any]:
        timeout = max(1, round(self.check_interval * 5))
        return await AsyncConnection.connect(
            pg.libpq(url), autocommit=True, connect_timeout=timeout, application_name="hub-replica-check"
        )

    async def _scalar(self, conn: AsyncConnection[Any], query: str) -> Any:
        cur = await asyncio.wait_for(conn.execute(query), timeout=max(1.0, self.check_interval * 5))
        row = await cur.fetchone()
        return row[0] if row else None

    async def _primary_lsn(self) -> int:
        if self._primary_probe is None or self._primary_probe.closed:
            self._primary_probe = await self._connect(self.primary_url)
        return int(await self._scalar(self._primary_probe, "select pg_current_wal_flush_lsn() - '0/0'::pg_lsn"))

    async def check_once(self) -> None:
        """Probe the primary's WAL position, then every replica's replayed position."""
        try:
            taken = time.monotonic()
            lsn = await self._primary_lsn()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            # Without the primary's position no freshness can be proven; replicas age out by max_lag.
            log.warning("query primary probe failed: %s", type(exc).__name__)
            await self._close_probe(None)
            return
        self._probes.append((taken, lsn))
        horizon = taken - 2 * self.max_lag - 2 * self.check_interval
        while len(self._probes) > 1 and self._probes[0][0] < horizon:
            self._probes.popleft()
        for replica in self.replicas:
            await self._check(replica)

    async def _check(self, replica: Replica) -> None:
        try:
            if replica._probe is None or replica._probe.closed:
                replica._probe = await self._connect(replica.url)
            replayed = await self._scalar(
                replica._probe,
                "select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() - '0/0'::pg_lsn end",
            )
        except (psycopg.Error, OSError, TimeoutError) as exc:
            replica.failures += 1
            replica.mark_down(type(exc).__name__)
            await self._close_probe(replica)
            return
        if replayed is None:  # promoted or not a replica at all: its data may have diverged
            replica.mark_down("not in recovery")
            return
        caught_up = [t for t, p in self._probes if p <= int(replayed)]
        if not replica.up:
            log.info("query replica %s reachable", replica.label)
            await self._renew_pool(replica)  # before it can be picked
            replica.up = True
        replica.failures = 0
        if caught_up:
            # Older knowledge is kept otherwise: it still holds every commit up to its fresh_as_of.
            replica.fresh_as_of = max(caught_up)
        lagging = replica.lag() > self.max_lag
        if lagging and not replica.lagging:
            log.warning("query replica %s lags more than %.1f s: reads go elsewhere", replica.label, self.max_lag)
        replica.lagging = lagging

    async def _renew_pool(self, replica: Replica) -> None:
        """A fresh pool whenever a replica becomes reachable: connections kept from before an outage are
        dead, and the old pool's reconnect backoff may still be waiting. (The first pool opens here too.)"""
        old, replica.pool = replica.pool, _pool(replica.url, replica.size, connect_timeout=2, read=True)
        await replica.pool.open(wait=False)
        self._closing.add(task := asyncio.create_task(old.close(timeout=5)))
        task.add_done_callback(self._closing.discard)

    async def _close_probe(self, replica: Replica | None) -> None:
        conn = self._primary_probe if replica is None else replica._probe
        if replica is None:
            self._primary_probe = None
        else:
            replica._probe = None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def check_soon(self) -> None:
        """Measure again now rather than at the end of the current interval (call on the event loop)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # a check must never stop the checker
                log.exception("replica check failed")
            self.checks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.check_interval)
            self._wake.clear()

    # lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        # A replica's pool opens when a check first reaches it: one that is down must not stop the process.
        await self.check_once()
        self._task = asyncio.create_task(self._run(), name="replica-check")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_probe(None)
        for replica in self.replicas:
            await self._close_probe(replica)
            await replica.pool.close()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task


@dataclass
class Pools:
    hub: AsyncConnectionPool[AsyncConnection[Any]]
    query: AsyncConnectionPool[AsyncConnection[Any]]  # the query store's primary
    replicas: ReplicaSet | None = None

    @classmethod
    async def open(
        cls,
        hub_url: str,
        query_url: str,
        *,
        size: int = 10,
        replica_urls: tuple[str, ...] | list[str] = (),
        max_replica_lag: float = 1.0,
        replica_check_seconds: float = 0.2,
    ) -> Pools:
        replicas = None
        if replica_urls:
            replicas = ReplicaSet(
                query_url,
                [
                    Replica(url, _pool(url, size, connect_timeout=2, read=True), server_label(url), size)
                    for url in replica_urls
                ],
                max_lag=max_replica_lag,
                check_interval=replica_check_seconds,
            )
        pools = cls(_pool(hub_url, size), _pool(query_url, size, read=True), replicas)
        await pools.hub.open(wait=True, timeout=30)
        await pools.query.open(wait=True, timeout=30)
        if replicas is not None:
            await replicas.open()
        return pools

    async def close(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
        await self.hub.close()
        await self.query.close()
