"""Appending to this process's audit chain with group commit.

Callers await ``record``: their entry joins the next batch, the batch is inserted by one statement in
autocommit (one round trip, no BEGIN or COMMIT: the records travel as one JSON parameter that
``json_to_recordset`` turns into rows, so the statement text is the same for every batch size and
psycopg keeps it prepared) and only after its commit (durable: synchronous_commit is left on) does
``record`` return, so a response never leaves before its audit record. One statement is atomic: a batch
is stored whole or not at all. While one batch commits, new entries queue for the next one, which is
what lets many concurrent requests share a commit. A failed batch fails its callers (503), and the writer
no longer trusts the head it holds: the batch may have committed all the same (the connection dropped after
the statement was sent, a timeout while the commit was acknowledged). Before it links the next batch it reads
the chain's head back from the hub DB (no row: genesis) and continues from there, so the chain has neither a
gap nor a reused sequence number; a batch that did commit stays, durable and correctly chained, though its
callers were answered 503. If that read fails too, the batch fails the same way and the next one reads again.
Until something fails, the only cost is checking a flag.

Anchors are signed every ``anchor_every`` records, and also by a timer every ``anchor_interval``
seconds whenever records were added since the last anchor, so an idle process leaves no unsigned tail
for longer than that: a tail cut off later is reported by ``hub audit verify``. The timer anchors
this process's synchronous chain (``hub.audit.sync_writer``, the identity events) the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hub.access.context import Caller
from hub.audit.chain import FIELDS, GENESIS, Entry, Record, key_id, link, sign_anchor
from hub.errors import ServiceUnavailable

log = logging.getLogger(__name__)

INSERT = (
    "insert into hub.audit_log (chain_id, seq, at, request_id, actor_kind, actor, client_id, channel, action, "
    "target_type, target_id, purpose, result, ip, prev_hash, hash) "
    "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# A whole batch in one statement: the records as one JSON array of objects (one text parameter, which
# orjson writes in microseconds where psycopg's array dumpers take far longer), typed column by column.
INSERT_BATCH = (
    "insert into hub.audit_log (chain_id, seq, at, request_id, actor_kind, actor, client_id, channel, action, "
    "target_type, target_id, purpose, result, ip, prev_hash, hash) "
    "select chain_id, seq, at, request_id, actor_kind, actor, client_id, channel, action, target_type, target_id, "
    "purpose, result, ip, prev_hash, hash from json_to_recordset(%s::json) as r(chain_id text, seq bigint, "
    "at timestamptz, request_id text, actor_kind text, actor text, client_id text, channel text, action text, "
    "target_type text, target_id text, purpose text, result text, ip text, prev_hash bytea, hash bytea)"
)
_COLUMNS = (*FIELDS, "prev_hash", "hash")
HEAD = "select seq, hash from hub.audit_log where chain_id = %s order by seq desc limit 1"


def batch_param(records: list[Record]) -> str:
    """INSERT_BATCH's parameter: every record as an object; the hashes in bytea's hex input form, ``at`` in
    RFC 3339 with microseconds (what timestamptz stores, so verification re-hashes the very value)."""
    return orjson.dumps(
        [
            dict(zip(_COLUMNS, (*r.row()[:-2], "\\x" + r.prev_hash.hex(), "\\x" + r.hash.hex()), strict=True))
            for r in records
        ]
    ).decode()


async def read_head(conn: AsyncConnection[Any], chain_id: str) -> tuple[int, bytes]:
    """The stored head of ``chain_id``: (seq, hash) of its newest record, (0, GENESIS) for an empty chain.
    The newest record always stays in the live log (the archive never moves it)."""
    cur = await conn.execute(HEAD, (chain_id,))
    row = await cur.fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))


async def insert_batch(conn: AsyncConnection[Any], records: list[Record]) -> None:
    """Store ``records`` with one statement on ``conn`` (a pooled hub-DB connection, idle), committed when
    it returns. The connection is put in autocommit for the statement: no BEGIN and COMMIT round trips."""
    await conn.set_autocommit(True)
    try:
        await conn.execute(INSERT_BATCH, (batch_param(records),))
    finally:
        if not conn.closed:
            # Back as the pool handed it out; a broken connection (the pool discards it) keeps the error above.
            with contextlib.suppress(psycopg.Error):
                await conn.set_autocommit(False)


def _fail(batch: list[tuple[Entry, asyncio.Future[None]]]) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(ServiceUnavailable("审计记录暂时无法写入，请稍后再试"))


class AuditLog:
    """One hash chain per web process (``chain_id``), so web nodes never serialise on a shared head."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        *,
        anchor_key: bytes,
        anchor_every: int = 1000,
        anchor_interval: float = 60.0,
        chain_id: str | None = None,
    ) -> None:
        self.pool = pool
        self.chain_id = chain_id or f"{socket.gethostname()[:40]}-{secrets.token_hex(6)}"
        self._key = anchor_key
        self._anchor_every = anchor_every
        self._anchor_interval = anchor_interval
        self._seq = 0
        self._head = GENESIS
        # Set when a batch failed: it may have committed anyway, so the head is read back before the next one.
        self._head_unsure = False
        self._anchored_seq = 0
        self._anchored_at = time.monotonic()
        self._queue: list[tuple[Entry, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._registered = False
        # Chains written elsewhere in this process (head read from the table) and their last anchored seq.
        self._table_chains: dict[str, int] = {}

    async def start(self, *, also_anchor: tuple[str, ...] | None = None) -> None:
        """Register the chain now if the hub DB allows (otherwise the first batch registers it) and start
        the anchor timer; ``also_anchor`` names chains other writers of this process append to (default:
        this process's synchronous chain)."""
        if also_anchor is None:
            from hub.audit import sync_writer  # imported here: sync_writer imports this module

            also_anchor = (sync_writer.CHAIN_ID,)
        self._table_chains = dict.fromkeys(also_anchor, 0)
        try:
            await self._register()
        except Exception as exc:  # e.g. the hub DB not migrated yet: reads fail closed until it is
            log.warning("audit chain not registered at startup: %s", type(exc).__name__)
            self._head_unsure = True  # the first batch registers it (and reads its head) first
        if self._anchor_interval > 0 and self._timer is None:
            self._timer = asyncio.create_task(self._anchor_timer(), name=f"audit-anchor-{self.chain_id}")

    async def _anchor_timer(self) -> None:
        while True:
            await asyncio.sleep(self._anchor_interval)
            try:
                await self.anchor_pending()
            except Exception as exc:  # the next tick retries; records stay durable meanwhile
                log.error("timed audit anchor failed: %s", type(exc).__name__)

    async def anchor_pending(self) -> None:
        """Anchor this chain's head and the other chains' heads where records were added since their
        last anchor (what the timer does on each tick)."""
        if self._seq > self._anchored_seq:
            await self.anchor()
        for chain_id, anchored in list(self._table_chains.items()):
            self._table_chains[chain_id] = await self._anchor_table_chain(chain_id, anchored)

    async def _anchor_table_chain(self, chain_id: str, anchored: int) -> int:
        async with self.pool.connection() as conn:
            seq, head = await read_head(conn, chain_id)
            if seq <= anchored:
                return anchored
            await conn.execute(
                "insert into hub.audit_anchor (chain_id, seq, hash, signed_at, key_id, signature) "
                "values (%s, %s, %s, now(), %s, %s) on conflict do nothing",
                (chain_id, seq, head, key_id(self._key), sign_anchor(self._key, chain_id, seq, head)),
            )
        return seq

    async def _register(self) -> None:
        if self._registered:
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                "insert into hub.audit_chain (chain_id, host) values (%s, %s) on conflict do nothing",
                (self.chain_id, socket.gethostname()[:64]),
            )
        self._registered = True

    async def record(self, caller: Caller, action: str, target_type: str, target_id: str, result: str) -> None:
        s = caller.subject
        await self.append(
            Entry(
                at=datetime.now(UTC),
                request_id=caller.request_id,
                actor_kind=s.kind.value,
                actor=s.account_id,
                client_id=s.client_id,
                channel=s.channel.value,
                action=action,
                target_type=target_type,
                target_id=target_id,
                purpose=caller.purpose,
                result=result,
                ip=caller.ip,
            )
        )

    async def append(self, entry: Entry) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # Not shielded: a caller cancelled while waiting cancels only its future; the entry is queued and the
        # drain writes it all the same (it settles only futures still pending).
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            if self._head_unsure:
                try:
                    await self._register()  # a chain not registered at startup is registered now
                    async with self.pool.connection() as conn:
                        self._seq, self._head = await read_head(conn, self.chain_id)
                    self._head_unsure = False
                except Exception as exc:  # not linked to a guessed head: this batch fails, the next reads again
                    log.error("audit chain head unreadable, batch of %d failed: %s", len(batch), type(exc).__name__)
                    _fail(batch)
                    continue
            records: list[Record] = []
            seq, head = self._seq, self._head
            for entry, _ in batch:
                seq += 1
                rec = link(self.chain_id, seq, entry, head)
                head = rec.hash
                records.append(rec)
            try:
                async with self.pool.connection() as conn:
                    await insert_batch(conn, records)
                self._seq, self._head = seq, head
            except Exception as exc:
                log.error("audit batch of %d failed: %s", len(batch), type(exc).__name__)
                self._head_unsure = True  # it may have committed all the same
                _fail(batch)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            if self._anchor_due():
                try:
                    await self.anchor()
                except Exception as exc:  # the records are durable; the next batch retries the anchor
                    log.error("audit anchor failed: %s", type(exc).__name__)

    def _anchor_due(self) -> bool:
        pending = self._seq - self._anchored_seq
        return pending >= self._anchor_every or (
            pending > 0 and time.monotonic() - self._anchored_at >= self._anchor_interval
        )

    async def anchor(self) -> None:
        """Sign the current head into ``hub.audit_anchor`` (nothing to do for an empty or anchored chain)."""
        if self._seq == self._anchored_seq:
            return
        seq, head = self._seq, self._head
        async with self.pool.connection() as conn:
            await conn.execute(
                "insert into hub.audit_anchor (chain_id, seq, hash, signed_at, key_id, signature) "
                "values (%s, %s, %s, now(), %s, %s) on conflict do nothing",
                (self.chain_id, seq, head, key_id(self._key), sign_anchor(self._key, self.chain_id, seq, head)),
            )
        self._anchored_seq, self._anchored_at = seq, time.monotonic()

    async def close(self) -> None:
        """Stop the timer, wait for queued records, then anchor every head."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.anchor_pending()
        except Exception as exc:  # shutting down: report, do not raise over the original cause
            log.error("final audit anchor failed: %s", type(exc).__name__)
