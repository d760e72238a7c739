"""An in-process cache of hot read-model rows (the person and unit overviews).

The clock is the sync event id. The sync worker writes, in the same transaction as each batch, one
``sync_event`` row per subject (``person``/``unit`` + id) whose read models the batch touched, and a
rebuild writes one ``all`` event. Every read snapshot knows the newest event id it contains (its
``event_id``, see ``hub.access.consistency``), and a tailer follows the events on the query-store
primary in id order (``seen``: every event up to it is processed).

- An entry is stored with the ``event_id`` ``E`` of the snapshot it was read in, and only when
  ``E >= seen``: events up to ``E`` are in the value, later ones are still ahead of the tailer.
- The tailer drops the entry of each subject it meets an event for (id > its ``E``), and everything
  on an ``all`` event; so a stored entry never has an event of its subject in ``(E, seen]``.
- A read at position ``P`` uses an entry only when ``E <= P <= seen``: then no event of the subject
  lies in ``(E, P]``, the row at ``E`` equals the row at ``P``, and the answer is exactly what the
  store holds in the reader's snapshot. A reader ahead of the tailer, or on a replica behind the
  entry, reads the store.

A cached answer is therefore never older than the snapshot it is served in; a lost or late tailer
costs hits, never correctness. The cache holds rows before masking and auditing: every call still
checks access, masks for its channel and writes its audit record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection

from hub import pg
from hub.access.context import ReadContext

log = logging.getLogger(__name__)

V = TypeVar("V")
Subject = tuple[str, int]  # ("person", person_id) or ("unit", unit_id): the sync event's subject

_TAIL = "select id, subject_type, subject_id from sync_event where id > %s and id <= %s order by id limit %s"


@dataclass
class _Entry:
    event_id: int
    items: dict[str, Any] = field(default_factory=dict)


class HotCache:
    """Rows per subject, valid by sync event id; bounded LRU over subjects."""

    def __init__(self, max_subjects: int) -> None:
        self.max_subjects = max_subjects
        self.seen = -1  # nothing processed yet: no read can hit
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Subject, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    # reading ----------------------------------------------------------------------------------
    def get(self, subject: Subject, item: str, position: int) -> Any | None:
        """The cached ``item`` of ``subject`` as of event id ``position``, or None."""
        entry = self._entries.get(subject)
        if entry is None or item not in entry.items or not entry.event_id <= position <= self.seen:
            return None
        self._entries.move_to_end(subject)
        return entry.items[item]

    def put(self, subject: Subject, item: str, position: int, value: Any) -> None:
        """Store a row read in a snapshot at event id ``position`` (ignored when the tailer is past it)."""
        if self.max_subjects <= 0 or position < self.seen:
            return
        entry = self._entries.get(subject)
        if entry is None or entry.event_id != position:
            entry = self._entries[subject] = _Entry(position)
        entry.items[item] = value
        self._entries.move_to_end(subject)
        while len(self._entries) > self.max_subjects:
            self._entries.popitem(last=False)

    # invalidating -----------------------------------------------------------------------------
    def apply(self, events: Sequence[tuple[int, str, str]], seen: int) -> None:
        """Process events in id order, then record that every event up to ``seen`` is processed."""
        for event_id, kind, subject_id in events:
            if kind == "all":
                self._entries.clear()
                continue
            if not subject_id.isdigit():
                continue
            entry = self._entries.get((kind, int(subject_id)))
            if entry is not None and entry.event_id < event_id:
                del self._entries[(kind, int(subject_id))]
        if seen < self.seen:
            # The event ids went back: a recreated store. Nothing cached can be trusted.
            self._entries.clear()
        self.seen = seen

    async def tail_once(self, conn: AsyncConnection[Any], batch: int = 10_000) -> int:
        """Read and apply the events after ``seen`` on ``conn`` (the primary, autocommit); returns how many.

        One statement when nothing happened. The sync is the store's single writer, so every event id
        up to the newest one seen committed is readable by any later statement.
        """
        row = await (await conn.execute("select coalesce(max(id), 0) from sync_event")).fetchone()
        newest = int(row[0]) if row else 0
        if newest <= self.seen:
            if newest < self.seen:
                self.apply([], newest)  # the ids went back: apply() clears everything
            return 0
        total = 0
        while True:
            rows = await (await conn.execute(_TAIL, (max(self.seen, 0), newest, batch))).fetchall()
            events = [(int(i), str(k), str(s)) for i, k, s in rows]
            done = len(events) < batch
            self.apply(events, newest if done else events[-1][0])
            total += len(events)
            if done:
                return total


class CacheTailer:
    """Follows the sync events on the query-store primary and keeps a ``HotCache`` exact."""

    def __init__(self, cache: HotCache, primary_url: str, *, interval: float = 0.05) -> None:
        self.cache = cache
        self.primary_url = primary_url
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn: AsyncConnection[Any] | None = None
        try:
            while True:
                try:
                    if conn is None or conn.closed:
                        conn = await AsyncConnection.connect(
                            pg.libpq(self.primary_url),
                            autocommit=True,
                            connect_timeout=2,
                            application_name="hub-cache-tail",
                        )
                    await self.cache.tail_once(conn)
                except (psycopg.Error, OSError) as exc:
                    # Hits stop (reads pass the tailer's position) until the events can be read again.
                    log.warning("read cache: sync events unavailable: %s", type(exc).__name__)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                    conn = None
                    await asyncio.sleep(1.0)
                await asyncio.sleep(self.interval)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="read-cache-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass
class CachedReadContext(ReadContext):
    """A ``ReadContext`` that knows its snapshot's sync event id and the process's hot cache."""

    event_id: int = 0
    cache: HotCache | None = None


async def many(
    ctx: ReadContext,
    kind: str,
    item: str,
    ids: Sequence[int],
    load: Callable[[list[int]], Awaitable[dict[int, V]]],
) -> dict[int, V]:
    """``load(ids)`` through the cache: hits from it, the rest from the store (then cached)."""
    cache = ctx.cache if isinstance(ctx, CachedReadContext) else None
    if cache is None:
        return await load(list(ids))
    position = ctx.event_id if isinstance(ctx, CachedReadContext) else 0
    found: dict[int, V] = {}
    missing: list[int] = []
    for i in ids:
        value = cache.get((kind, i), item, position)
        if value is None:
            missing.append(i)
        else:
            found[i] = value
    cache.hits += len(found)
    cache.misses += len(missing)
    if missing:
        loaded = await load(missing)
        for i, value in loaded.items():
            cache.put((kind, i), item, position, value)
        found.update(loaded)
    return found
