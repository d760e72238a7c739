"""A failed audit batch whose fate the writer cannot know: the chain continues from the head stored in the
hub DB, not from the head the writer last saw committed.

An insert can commit and still raise in the client (the connection dropped after the commit was sent,
a timeout while the commit was acknowledged). Its callers get 503; later batches must neither reuse its
sequence numbers (a unique violation on every batch, so 503 on every personal read until restart) nor
leave a gap, and the chain must verify end to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from hub import pg
from hub.audit import writer
from hub.audit.chain import Entry, sm3
from hub.audit.verify import verify
from hub.audit.writer import AuditLog
from hub.db import Pools
from hub.errors import ServiceUnavailable
from tests.conftest import Databases

KEY = sm3(b"test anchor key")


def _entry(tag: str) -> Entry:
    return Entry(
        at=datetime.now(UTC),
        request_id=tag,
        actor_kind="person",
        actor="acct-1",
        client_id="portal-web",
        channel="portal",
        action="person.overview",
        target_type="person",
        target_id="1001",
        purpose="query",
        result="ok",
        ip="127.0.0.1",
    )


async def _append_all(log: AuditLog, tags: list[str]) -> list[BaseException | None]:
    """Append concurrently (one batch: every append queues before the drain task first runs); each
    caller's outcome, None when its append returned."""
    outcomes = await asyncio.gather(*(log.append(_entry(t)) for t in tags), return_exceptions=True)
    return [o if isinstance(o, BaseException) else None for o in outcomes]


def _stored(dbs: Databases, chain_id: str) -> list[tuple[int, str]]:
    with pg.connect(dbs.hub_url) as conn:
        rows = conn.execute(
            "select seq, request_id from hub.audit_log where chain_id = %s order by seq", (chain_id,)
        ).fetchall()
    return [(cast(int, seq), str(req)) for seq, req in rows]  # seq: bigint


def _verified(dbs: Databases) -> tuple[int, list[Any]]:
    with pg.connect(dbs.hub_url) as conn:
        return verify(conn, KEY)


def _fail_once(monkeypatch: pytest.MonkeyPatch, *, commit_first: bool) -> list[int]:
    """Make the next ``writer.insert_batch`` call raise OSError, after committing its batch when
    ``commit_first``; later calls are the real one. Returns the list of batch sizes it was called with."""
    real = writer.insert_batch
    calls: list[int] = []

    async def flaky(conn: Any, records: list[Any]) -> None:
        calls.append(len(records))
        if len(calls) == 1:
            if commit_first:
                await real(conn, records)
            raise OSError("connection lost")
        await real(conn, records)

    monkeypatch.setattr(writer, "insert_batch", flaky)
    return calls


async def _with_log(dbs: Databases, body: Callable[[AuditLog], Awaitable[None]]) -> str:
    pools = await Pools.open(dbs.hub_url, dbs.query_url, size=2)
    try:
        log = AuditLog(pools.hub, anchor_key=KEY, anchor_every=1000, anchor_interval=3600)
        await log.start(also_anchor=())
        await body(log)
        await log.close()
        return log.chain_id
    finally:
        await pools.close()


def test_a_batch_committed_but_reported_failed_does_not_block_the_chain(
    dbs: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(log: AuditLog) -> None:
        assert await _append_all(log, ["a1", "a2", "a3"]) == [None, None, None]
        calls = _fail_once(monkeypatch, commit_first=True)
        lost = await _append_all(log, ["b1", "b2"])
        assert [type(o) for o in lost] == [ServiceUnavailable, ServiceUnavailable]
        # The following records are stored and their callers answered, batch after batch.
        assert await _append_all(log, ["c1", "c2"]) == [None, None]
        assert await _append_all(log, ["d1"]) == [None]
        assert calls == [2, 2, 1]

    chain = asyncio.run(_with_log(dbs, body))
    # The committed batch stays, durable and chained, even though its callers got 503.
    assert _stored(dbs, chain) == [
        (1, "a1"),
        (2, "a2"),
        (3, "a3"),
        (4, "b1"),
        (5, "b2"),
        (6, "c1"),
        (7, "c2"),
        (8, "d1"),
    ]
    assert _verified(dbs) == (8, [])
    with pg.connect(dbs.hub_url) as conn:
        anchors = conn.execute("select seq from hub.audit_anchor where chain_id = %s", (chain,)).fetchall()
    assert anchors == [(8,)]  # close() signs the real head, past the batch the writer saw fail


def test_a_batch_that_failed_before_commit_leaves_no_trace(dbs: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    """The opposite case: the next batch must not assume the failed one was stored (that would leave a gap)."""

    async def body(log: AuditLog) -> None:
        assert await _append_all(log, ["a1", "a2"]) == [None, None]
        calls = _fail_once(monkeypatch, commit_first=False)
        lost = await _append_all(log, ["b1", "b2", "b3"])
        assert [type(o) for o in lost] == [ServiceUnavailable] * 3
        assert await _append_all(log, ["c1"]) == [None]
        assert await _append_all(log, ["d1", "d2"]) == [None, None]
        assert calls == [3, 1, 2]

    chain = asyncio.run(_with_log(dbs, body))
    assert _stored(dbs, chain) == [(1, "a1"), (2, "a2"), (3, "c1"), (4, "d1"), (5, "d2")]
    assert _verified(dbs) == (5, [])


def test_a_failed_head_reread_fails_its_batch_and_is_retried(dbs: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(log: AuditLog) -> None:
        assert await _append_all(log, ["a1"]) == [None]
        inserts = _fail_once(monkeypatch, commit_first=True)
        assert [type(o) for o in await _append_all(log, ["b1", "b2"])] == [ServiceUnavailable] * 2

        real_read = writer.read_head
        reads: list[str] = []

        async def unavailable_once(conn: Any, chain_id: str) -> tuple[int, bytes]:
            reads.append(chain_id)
            if len(reads) == 1:
                raise OSError("hub DB unavailable")
            return await real_read(conn, chain_id)

        monkeypatch.setattr(writer, "read_head", unavailable_once)
        # The head cannot be read: this batch is not linked to a guessed head, its callers get 503.
        assert [type(o) for o in await _append_all(log, ["c1", "c2"])] == [ServiceUnavailable] * 2
        assert inserts == [2]  # nothing was inserted for it
        # The next batch reads the head again and continues from it; then no more reads.
        assert await _append_all(log, ["d1"]) == [None]
        assert await _append_all(log, ["e1", "e2"]) == [None, None]
        assert reads == [log.chain_id, log.chain_id]
        assert inserts == [2, 1, 2]

    chain = asyncio.run(_with_log(dbs, body))
    assert _stored(dbs, chain) == [(1, "a1"), (2, "b1"), (3, "b2"), (4, "d1"), (5, "e1"), (6, "e2")]
    assert _verified(dbs) == (6, [])


def test_a_chain_not_registered_at_startup_is_registered_by_its_first_batch(
    dbs: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``start`` could not register the chain (the hub DB briefly unreachable): the first batch registers it
    before inserting (every record references its chain), instead of failing until a restart."""
    real = AuditLog._register
    attempts: list[bool] = []

    async def refused_once(self: AuditLog) -> None:
        attempts.append(self._registered)
        if len(attempts) == 1:
            raise OSError("hub DB unavailable")
        await real(self)

    monkeypatch.setattr(AuditLog, "_register", refused_once)

    async def body(log: AuditLog) -> None:
        assert await _append_all(log, ["a1", "a2"]) == [None, None]
        assert await _append_all(log, ["b1"]) == [None]

    chain = asyncio.run(_with_log(dbs, body))
    assert attempts[:2] == [False, False]  # refused at start, then registered by the first batch
    with pg.connect(dbs.hub_url) as conn:
        registered = conn.execute("select count(*) from hub.audit_chain where chain_id = %s", (chain,)).fetchone()
    assert registered == (1,)
    assert _stored(dbs, chain) == [(1, "a1"), (2, "a2"), (3, "b1")]
    assert _verified(dbs) == (3, [])
