"""Where a read runs, the sync position it reflects (``as_of``), and read-your-writes against a token.

A write hands back the core transaction id of its change (the token). A read presenting it waits,
bounded, until the query store's checkpoint snapshot shows that transaction as visible (applied);
otherwise it fails with 503 rather than show the caller a world without their own change.

With replicas configured (``hub.db.ReplicaSet``), a read goes to a replica that is fresh enough and
to the primary otherwise. A read with a token first waits on the chosen replica, at most the replica
lag bound (a fresh replica reaches what the primary has within that time), then goes to the primary
and waits there for the rest of the timeout; the visibility check and the snapshot run on the same
connection, and a server's applied position only moves forward, so the snapshot holds the writer's
change. A replica that fails before the read has begun (connection refused or cut, pool exhausted)
is taken out of rotation and the read runs on the primary: the caller sees no error.

A read that needs one query only (``PendingRead.once``) takes no transaction at all: the position, the
token's visibility and the query's rows come from one autocommit statement, which sees one snapshot
(one round trip instead of BEGIN with the position, the query and ROLLBACK). Server choice, the
bounded wait for a token, the 503 and the replica fallback are those of ``open_read``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from hub.access.batching import Coalescer, Pending
from hub.access.cache import CachedReadContext, HotCache
from hub.access.channels import Masker, masker
from hub.access.context import AuditSink, Caller
from hub.access.subject import Subject
from hub.db import Pools, ReadConnection
from hub.errors import ServiceUnavailable

log = logging.getLogger(__name__)

FEED = "core"  # sync.worker.FEED; the hub may not import sync
NO_POSITION = "0:0:"  # a store that has never been filled
PRIMARY = "primary"
REPLICA_CHECKOUT_SECONDS = 0.5  # a replica pool that cannot hand out a connection by then is skipped

_VISIBLE = (
    "select pg_visible_in_snapshot(%s::text::xid8, prev_snapshot::pg_snapshot) from sync_checkpoint where feed = %s"
)
# The checkpoint snapshot and the newest sync event in the same snapshot: the event id is the clock of
# the read-model cache (hub.access.cache), as every batch writes one event per subject it touched.
_POSITION = (
    "select c.prev_snapshot, coalesce((select max(e.id) from sync_event e), 0) from sync_checkpoint c where c.feed = %s"
)


# The same, opening the read-only REPEATABLE READ transaction (no parameters: one simple-protocol message).
_BEGIN_POSITION = (
    "begin isolation level repeatable read, read only; "
    "select c.prev_snapshot, coalesce((select max(e.id) from sync_event e), 0) from sync_checkpoint c "
    f"where c.feed = '{FEED}'"
)


@dataclass(frozen=True)
class Snapshot:
    """What one read sees: the sync position (``as_of``), the newest sync event id, and the server."""

    as_of: str
    event_id: int
    server: str


async def _wait_on(conn: AsyncConnection[Any], txid: int, deadline: float, poll: float) -> bool:
    """Poll ``conn`` until core transaction ``txid`` is applied there; False once ``deadline`` passed."""
    was_autocommit = conn.autocommit
    if not was_autocommit:
        await conn.set_autocommit(True)
    try:
        while True:
            row = await (await conn.execute(_VISIBLE, (str(txid), FEED))).fetchone()
            if row is not None and row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    finally:
        if not was_autocommit:
            await conn.set_autocommit(False)


async def wait_until_visible(
    pool: AsyncConnectionPool[AsyncConnection[Any]], txid: int, *, timeout: float = 2.0, poll: float = 0.05
) -> None:
    """Return once core transaction ``txid`` is applied in the store behind ``pool``; 503 after ``timeout``."""
    async with pool.connection() as conn:
        if not await _wait_on(conn, txid, time.monotonic() + timeout, poll):
            raise ServiceUnavailable("数据正在同步，请稍后再试")


@asynccontextmanager
async def _snapshot(conn: AsyncConnection[Any], server: str) -> AsyncIterator[tuple[ReadConnection, Snapshot]]:
    if conn.autocommit:
        # A pooled query-store connection (hub.db keeps them in autocommit): the transaction is opened by
        # hand, BEGIN and the position query in one simple-protocol round trip, and ended the same way.
        cur = await conn.execute(_BEGIN_POSITION)
        cur.nextset()  # past BEGIN's empty result to the position row
        row = await cur.fetchone()
        try:
            snap = Snapshot(str(row[0]), int(row[1]), server) if row else Snapshot(NO_POSITION, 0, server)
            yield ReadConnection(conn), snap
        finally:
            if not conn.closed:
                await conn.execute("rollback")
        return
    await conn.execute("set transaction isolation level repeatable read, read only")
    row = await (await conn.execute(_POSITION, (FEED,))).fetchone()
    try:
        snap = Snapshot(str(row[0]), int(row[1]), server) if row else Snapshot(NO_POSITION, 0, server)
        yield ReadConnection(conn), snap
    finally:
        await conn.rollback()


@asynccontextmanager
async def read_snapshot(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
) -> AsyncIterator[tuple[ReadConnection, str]]:
    """A read-only REPEATABLE READ transaction on ``pool`` and the checkpoint snapshot it sees (``as_of``)."""
    async with pool.connection() as conn, _snapshot(conn, PRIMARY) as (rc, snap):
        yield rc, snap.as_of


@asynccontextmanager
async def open_read(
    pools: Pools, token: int | None = None, *, timeout: float = 2.0, poll: float = 0.05
) -> AsyncIterator[tuple[ReadConnection, Snapshot]]:
    """One read snapshot on a fresh replica or the primary, after any read-your-writes wait.

    Raises ServiceUnavailable (503) when ``token`` is not applied anywhere within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    replicas = pools.replicas
    replica = replicas.pick() if replicas is not None else None
    if replicas is not None and replica is not None:
        began = False
        try:
            async with replica.pool.connection(timeout=REPLICA_CHECKOUT_SECONDS) as conn:
                ready = token is None or await _wait_on(
                    conn, token, min(deadline, time.monotonic() + replicas.max_lag), poll
                )
                if ready:
                    async with _snapshot(conn, replica.label) as opened:
                        replicas.served[replica.label] += 1
                        began = True
                        yield opened
                    return
        except (PoolTimeout, PoolClosed):  # busy, or its pool is being renewed: the primary answers
            if began:
                raise  # from the route itself (another pool), not from choosing the replica
        except psycopg.OperationalError as exc:
            if began:
                raise
            replica.mark_down(type(exc).__name__)
            replicas.check_soon()
    async with pools.query.connection() as conn:
        if token is not None and not await _wait_on(conn, token, deadline, poll):
            raise ServiceUnavailable("数据正在同步，请稍后再试")
        async with _snapshot(conn, PRIMARY) as opened:
            if replicas is not None:
                replicas.served[PRIMARY] += 1
            yield opened


# One autocommit statement: the position, the newest sync event id, whether the token is applied, and
# the rows of ``{query}`` (each with ``once_row`` set; a single row of nulls without it when there are
# none). The joins have no join clause, so PostgreSQL can only run them as nested loops over the one
# position row: the query's rows come out in the query's own order.
_ONCE = (
    "select c.prev_snapshot::text as once_position, coalesce((select max(e.id) from sync_event e), 0) "
    "as once_event_id, {visible} as once_visible, q.* from (select 1) as once_one "
    f"left join sync_checkpoint c on c.feed = '{FEED}' "
    "left join lateral (select true as once_row, x.* from ({query}) as x) as q on true"
)
_ONCE_VISIBLE = "coalesce(pg_visible_in_snapshot(%(once_token)s::text::xid8, c.prev_snapshot::pg_snapshot), false)"
_ONCE_KEYS = ("once_position", "once_event_id", "once_visible", "once_row")

Row = dict[str, Any]


@functools.lru_cache(maxsize=64)
def once_statement(query: str, *, with_token: bool) -> str:
    """``query`` (named parameters, none called ``once_*``) wrapped with the position into one statement."""
    return _ONCE.format(query=query, visible=_ONCE_VISIBLE if with_token else "true")


async def _once_on(
    conn: AsyncConnection[Any], statement: str, params: dict[str, Any], server: str
) -> tuple[bool, Snapshot, list[Row]]:
    """Run ``statement`` (see ``once_statement``): whether the token is visible, the snapshot, the rows."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(statement, params, prepare=True)
    found = await cur.fetchall()
    head = found[0]  # the outer joins always give at least one row
    position, visible = head["once_position"], bool(head["once_visible"])
    snap = Snapshot(NO_POSITION if position is None else str(position), int(head["once_event_id"]), server)
    rows: list[Row] = []
    if head["once_row"]:
        for row in found:
            for key in _ONCE_KEYS:
                del row[key]
            rows.append(row)
    return visible, snap, rows


async def _once_ready(
    conn: AsyncConnection[Any],
    statement: str,
    params: dict[str, Any],
    server: str,
    token: int | None,
    deadline: float,
    poll: float,
) -> tuple[Snapshot, list[Row]] | None:
    """The statement's answer on ``conn`` once ``token`` is applied there; None if not by ``deadline``."""
    visible, snap, rows = await _once_on(conn, statement, params, server)
    if visible:
        return snap, rows
    assert token is not None  # without a token the statement says visible
    if not await _wait_on(conn, token, deadline, poll):
        return None
    # A server's applied position only moves forward: this snapshot holds the token's transaction.
    visible, snap, rows = await _once_on(conn, statement, params, server)
    return (snap, rows) if visible else None


@dataclass
class PendingRead:
    """A read not begun yet, for a service function that needs one query: ``once`` is its snapshot.

    Carries what a ``ReadContext`` carries before it has a connection: the caller, the audit sink, the
    hot cache, and the token and timeout of read-your-writes.
    """

    pools: Pools
    caller: Caller
    audit: AuditSink
    token: int | None = None
    timeout: float = 2.0
    cache: HotCache | None = None
    poll: float = 0.05
    batcher: OnceBatcher | None = None  # shares one statement among the reads of one loop pass
    # The caller's admission (rate limit, revocation) when it is still being decided: the statement may run
    # meanwhile, but its rows are not looked at, nothing is decided or recorded, until it succeeds; its
    # refusal is the answer (also when the read failed). ``once_keyed`` awaits it.
    admission: Awaitable[None] | None = None
    mask: Masker = field(init=False)

    def __post_init__(self) -> None:
        self.mask = masker(self.caller.subject.channel)

    @property
    def subject(self) -> Subject:
        return self.caller.subject

    @asynccontextmanager
    async def once(self, query: str, params: dict[str, Any]) -> AsyncIterator[tuple[CachedReadContext, list[Row]]]:
        """The rows of ``query`` and a ``ReadContext`` of the snapshot they were read in, from one statement.

        The context's connection (in autocommit, no transaction) is for work that needs no snapshot, such
        as loading a keyring; it goes back to the pool when the block ends. Raises ServiceUnavailable
        (503) when the token is not applied anywhere within the timeout.
        """
        async with self._rows(query, params) as (conn, snap, rows):
            yield self._context(conn, snap), rows

    def once_keyed(self, build: KeyedQuery, ids: Sequence[int], key: str) -> OnceKeyed:
        """``once(*build(ids))``, whose rows are those whose column ``key`` is one of ``ids``.

        With a ``batcher`` and no token, the reads of the same ``build`` made in one pass of the event loop
        share one statement over all their ids (``OnceBatcher``): each caller gets its own copies of its
        rows, in the order of its ids, and the snapshot of that statement. A read with a token runs alone
        (its wait for the token is its own).
        """
        return OnceKeyed(self, build, ids, key)

    def began(self) -> None:
        """Called when ``once_keyed``'s snapshot began (the statement answered); for subclasses."""

    def refused(self, exc: Exception) -> None:
        """Called when ``once_keyed`` failed before its snapshot began; for subclasses."""

    @asynccontextmanager
    async def _rows(
        self, query: str, params: dict[str, Any], count: int = 1
    ) -> AsyncIterator[tuple[AsyncConnection[Any], Snapshot, list[Row]]]:
        """The connection, snapshot and rows of ``query`` wrapped by ``once_statement`` (``count``: the
        reads this statement answers, for the per-server counters)."""
        deadline = time.monotonic() + self.timeout
        token = self.token
        statement = once_statement(query, with_token=token is not None)
        params = {**params, "once_token": str(token)} if token is not None else params
        replicas = self.pools.replicas
        replica = replicas.pick() if replicas is not None else None
        if replicas is not None and replica is not None:
            began = False
            try:
                async with replica.pool.connection(timeout=REPLICA_CHECKOUT_SECONDS) as conn:
                    got = await _once_ready(
                        conn,
                        statement,
                        params,
                        replica.label,
                        token,
                        min(deadline, time.monotonic() + replicas.max_lag),
                        self.poll,
                    )
                    if got is not None:
                        replicas.served[replica.label] += count
                        began = True
                        yield conn, got[0], got[1]
                        return
            except (PoolTimeout, PoolClosed):  # busy, or its pool is being renewed: the primary answers
                if began:
                    raise
            except psycopg.OperationalError as exc:
                if began:
                    raise
                replica.mark_down(type(exc).__name__)
                replicas.check_soon()
        async with self.pools.query.connection() as conn:
            got = await _once_ready(conn, statement, params, PRIMARY, token, deadline, self.poll)
            if got is None:
                raise ServiceUnavailable("数据正在同步，请稍后再试")
            if replicas is not None:
                replicas.served[PRIMARY] += count
            yield conn, got[0], got[1]

    def _context(self, conn: AsyncConnection[Any], snap: Snapshot) -> CachedReadContext:
        return CachedReadContext(
            ReadConnection(conn), self.caller, self.audit, snap.as_of, event_id=snap.event_id, cache=self.cache
        )


class OnceKeyed:
    """``PendingRead.once_keyed``'s context: ``(ReadContext, rows)`` on entry. A class rather than an
    ``asynccontextmanager``: it is entered on every hot read, and a generator costs several times more."""

    __slots__ = ("_build", "_ids", "_inner", "_key", "_pending", "_release")

    def __init__(self, pending: PendingRead, build: KeyedQuery, ids: Sequence[int], key: str) -> None:
        self._pending, self._build, self._ids, self._key = pending, build, ids, key
        self._inner: Any = None
        self._release: Callable[[], None] | None = None

    async def __aenter__(self) -> tuple[CachedReadContext, list[Row]]:
        pending = self._pending
        admission, pending.admission = pending.admission, None
        try:
            try:
                got = await self._read()
            except asyncio.CancelledError:
                discard(admission)
                raise
            except Exception:
                if admission is not None:
                    await admission  # a refusal answers rather than the read's failure
                raise
            if admission is not None:
                try:
                    await admission
                except BaseException:
                    await self.__aexit__(None, None, None)  # the rows go unread; the connection goes back
                    raise
        except Exception as exc:
            pending.refused(exc)
            raise
        pending.began()
        return got

    async def _read(self) -> tuple[CachedReadContext, list[Row]]:
        pending = self._pending
        if pending.batcher is None or pending.token is not None:
            self._inner = pending.once(*self._build(self._ids))
            got: tuple[CachedReadContext, list[Row]] = await self._inner.__aenter__()
            return got
        future = pending.batcher.coalescer(self._build, self._key).add((pending, self._ids))
        try:
            conn, snap, rows, self._release = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result()[3]()  # answered, then cancelled before it resumed: hand it back
            raise
        return pending._context(conn, snap), rows

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if self._inner is not None:
            return bool(await self._inner.__aexit__(exc_type, exc, tb))
        if self._release is not None:
            self._release()
        return False


def discard(admission: Awaitable[None] | None) -> None:
    """Let an admission whose request was cancelled finish on its own, its outcome unused."""
    if admission is not None:
        task = asyncio.ensure_future(admission)
        _discarded.add(task)
        task.add_done_callback(_forget)


_discarded: set[asyncio.Future[None]] = set()


def _forget(task: asyncio.Future[None]) -> None:
    _discarded.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a refusal of a request nobody waits for is not an error


async def admitted(pending: PendingRead) -> None:
    """Await ``pending``'s admission if no read has taken it (a service function that failed or answered
    before reading): its refusal is then the answer."""
    admission, pending.admission = pending.admission, None
    if admission is not None:
        await admission


# A family of queries batchable by id: the query and parameters reading the rows of these ids.
KeyedQuery = Callable[[Sequence[int]], tuple[str, dict[str, Any]]]
# What a batched read gets: the shared connection, the snapshot, its rows, and the call handing the
# connection back (it returns to the pool once every read of the batch has handed it back).
Batched = tuple[AsyncConnection[Any], Snapshot, list[Row], Callable[[], None]]
BATCH_HOLD_SECONDS = 60.0  # a read still holding the shared connection after this is let go (logged)


class OnceBatcher:
    """Shares one ``once`` statement among the token-less reads of one query family made in one pass of
    the event loop (``PendingRead.once_keyed``): one round trip and one driver call for all of them.

    The statement reads the union of their ids; every read sees the same snapshot, as if it had run at
    that moment on its own, and the shared connection goes back to the pool when the last of them is done.
    """

    def __init__(self, max_batch: int = 128) -> None:
        self.max_batch = max_batch
        self._coalescers: dict[tuple[KeyedQuery, str], Coalescer[tuple[PendingRead, Sequence[int]], Batched]] = {}

    def coalescer(self, build: KeyedQuery, key: str) -> Coalescer[tuple[PendingRead, Sequence[int]], Batched]:
        found = self._coalescers.get((build, key))
        if found is None:

            async def run(batch: Sequence[Pending[tuple[PendingRead, Sequence[int]], Batched]]) -> None:
                await _run_keyed(build, key, batch)

            found = self._coalescers[(build, key)] = Coalescer(run, max_batch=self.max_batch)
        return found

    @property
    def batches(self) -> int:
        return sum(c.batches for c in self._coalescers.values())

    @property
    def items(self) -> int:
        return sum(c.items for c in self._coalescers.values())


async def _run_keyed(
    build: KeyedQuery, key: str, batch: Sequence[Pending[tuple[PendingRead, Sequence[int]], Batched]]
) -> None:
    union = list(dict.fromkeys(i for item in batch for i in item.ask[1]))
    first = batch[0].ask[0]  # the reads of one app share its pools and settings
    query, params = build(union)
    left = len(batch)
    all_back = asyncio.Event()

    def release() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            all_back.set()

    async with first._rows(query, params, count=len(batch)) as (conn, snap, rows):
        by_id: dict[Any, list[Row]] = {}
        for row in rows:
            by_id.setdefault(row[key], []).append(row)
        for item in batch:
            if item.future.cancelled():
                release()
                continue
            mine = [dict(r) for i in dict.fromkeys(item.ask[1]) for r in by_id.get(i, ())]
            item.future.set_result((conn, snap, mine, release))
        try:
            await asyncio.wait_for(all_back.wait(), BATCH_HOLD_SECONDS)
        except TimeoutError:
            log.warning(
                "batched read: %d of %d reads still held the connection; returned to the pool", left, len(batch)
            )
