"""The sync worker: the single writer of the query store.

Each step reads one batch of the current round (see sync/feed.py), projects it, and writes the
read-model operations, one event per affected subject and the new checkpoint in one store
transaction. A crash at any instant therefore neither loses nor repeats an effect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub import pg
from hub.crypto import columns as sealed_columns
from hub.crypto.rotation import QUERY
from hub.redact import redact
from hub.settings import SyncSettings
from sync import apply, feed
from sync.projections import Change, ProjectionError, project, subjects

log = logging.getLogger(__name__)

FEED = "core"
# Only one worker may write the store; the lock dies with its session, so a killed worker frees it.
WRITER_LOCK = 0x5359_4E43  # "SYNC"


class NotInitialised(Exception):
    """The store has no checkpoint yet: run ``hub sync backfill`` (or ``hub sync init``) first."""


class AnotherWriter(Exception):
    """Another sync worker holds the writer lock of this store."""


@dataclass
class Status:
    """What /healthz and the metrics report about the feed."""

    checkpoint: feed.Checkpoint | None
    pending: int
    lag_seconds: float
    fault: tuple[int | None, str] | None
    alarm: bool


class SyncWorker:
    def __init__(
        self,
        core_url: str,
        store_url: str,
        *,
        batch_size: int = 2000,
        idle_wait: float = 1.0,
        lag_alarm: float = 5.0,
        prune_after_hours: float = 72.0,
    ) -> None:
        self.core_url = core_url
        self.store_url = store_url
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.lag_alarm = lag_alarm
        self.prune_after_hours = prune_after_hours
        self.lag_samples: deque[float] = deque(maxlen=10_000)
        self._core: psycopg.Connection[Any] | None = None
        self._store: psycopg.Connection[Any] | None = None
        self._listen: psycopg.Connection[Any] | None = None
        self._last_prune = 0.0
        self._last_lag_alarm = 0.0
        # The single writer keeps its checkpoint in memory; saving still compares-and-sets the stored one.
        self._cp: feed.Checkpoint | None = None
        self._fault_open = True  # unknown at start: the first good batch clears any stale fault

    @classmethod
    def from_settings(cls, core_url: str, store_url: str, settings: SyncSettings) -> SyncWorker:
        return cls(
            core_url,
            store_url,
            batch_size=settings.batch_size,
            idle_wait=settings.idle_wait_seconds,
            lag_alarm=settings.lag_alarm_seconds,
            prune_after_hours=settings.prune_after_hours,
        )

    # connections -------------------------------------------------------------------------
    def connect(self) -> None:
        self._core = pg.connect(self.core_url, autocommit=True, application_name="hub-sync")
        self._store = pg.connect(self.store_url, application_name="hub-sync")
        row = self._store.execute("select pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone()
        self._store.commit()
        if not row or not row[0]:
            self.close()
            raise AnotherWriter("另一个同步进程正在写入查询库")
        self._listen = pg.connect(self.core_url, autocommit=True, application_name="hub-sync-listen")
        self._listen.execute("listen core_changes")
        seal_leftovers(self._store)

    def close(self) -> None:
        self._cp = None
        for conn in (self._core, self._store, self._listen):
            if conn is not None:
                conn.close()
        self._core = self._store = self._listen = None

    @property
    def core(self) -> psycopg.Connection[Any]:
        if self._core is None:
            self.connect()
        assert self._core is not None
        return self._core

    @property
    def store(self) -> psycopg.Connection[Any]:
        if self._store is None:
            self.connect()
        assert self._store is not None
        return self._store

    # one step ----------------------------------------------------------------------------
    def _checkpoint(self) -> feed.Checkpoint:
        if self._cp is None:
            cp = apply.load_checkpoint(self.store, FEED)
            self.store.rollback()
            if cp is None:
                raise NotInitialised("查询库尚未初始化，请先运行 hub sync backfill")
            self._cp = cp
        return self._cp

    def step(self) -> int:
        """Apply at most one batch; returns the number of changes applied (0: nothing to do)."""
        store, core = self.store, self.core
        cp = self._checkpoint()
        cur = cp.cur_snapshot or feed.current_snapshot(core)
        try:
            changes = feed.read_batch(core, cp, cur, self.batch_size)
        except feed.CorruptChange as exc:
            self._fault(exc.change_id, exc.reason)
            return 0
        if not changes and cp.cur_snapshot is None:
            return 0  # nothing committed since prev: leave the checkpoint alone
        try:
            ops = [op for change in changes for op in project(change)]
            touched = set().union(*(subjects(change) for change in changes)) if changes else set()
        except ProjectionError as exc:
            self._fault(exc.change_id, exc.reason)
            return 0
        round_done = len(changes) < self.batch_size
        last: Change | None = changes[-1] if changes else None
        new_cp = replace(
            cp,
            prev_snapshot=cur if round_done else cp.prev_snapshot,
            cur_snapshot=None if round_done else cur,
            last_id=0 if round_done else (last.id if last else cp.last_id),
            applied_changes=cp.applied_changes + len(changes),
            batches=cp.batches + 1,
            last_change_id=last.id if last else cp.last_change_id,
            last_change_at=max(c.changed_at for c in changes) if changes else cp.last_change_at,
        )
        self._cp = None  # unknown until the transaction has committed
        try:
            with store.transaction():
                apply.write_ops(store, ops)
                apply.write_events(store, new_cp.batches, new_cp.prev_snapshot, touched)
                apply.save_checkpoint(store, cp, new_cp)
            store.commit()
        except apply.CheckpointMoved:
            store.rollback()
            log.warning("sync checkpoint changed underneath; reloading it")
            return 0
        self._cp = new_cp
        now = datetime.now(UTC)
        lags = [(now - c.changed_at).total_seconds() for c in changes]
        self.lag_samples.extend(lags)
        if lags and max(lags) > self.lag_alarm and time.monotonic() - self._last_lag_alarm > 60:
            self._last_lag_alarm = time.monotonic()
            log.warning("sync lag %.1f s is above the alarm threshold %.1f s", max(lags), self.lag_alarm)
        self._resolve_fault()
        return len(changes)

    def _fault(self, change_id: int | None, reason: str) -> None:
        reason = redact(reason)
        self._fault_open = True
        log.error("sync stopped at change %s: %s", change_id, reason)
        store = self.store
        store.rollback()
        with store.transaction():
            store.execute(
                """
                insert into sync_fault (feed, change_id, reason) values (%s, %s, %s)
                on conflict (feed) where resolved_at is null
                do update set change_id = excluded.change_id, reason = excluded.reason, last_seen = now()
                """,
                (FEED, change_id, reason),
            )
        store.commit()

    def _resolve_fault(self) -> None:
        if not self._fault_open:
            return
        self._fault_open = False
        store = self.store
        store.execute("update sync_fault set resolved_at = now() where feed = %s and resolved_at is null", (FEED,))
        store.commit()

    # loops -------------------------------------------------------------------------------
    def drain(self, max_steps: int | None = None) -> int:
        """Apply until nothing is pending; returns the number of changes applied."""
        total, steps = 0, 0
        while max_steps is None or steps < max_steps:
            n = self.step()
            steps += 1
            total += n
            if n == 0 and not self._in_round():
                break
        return total

    def _in_round(self) -> bool:
        return self._checkpoint().cur_snapshot is not None

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; reconnects after a lost connection."""
        while not stop.is_set():
            try:
                n = self.step()
                if n == 0 and not self._in_round():
                    self._maybe_prune()
                    self._wait()
            except (NotInitialised, AnotherWriter) as exc:
                log.warning("sync waiting: %s", exc)
                self.close()
                stop.wait(self.idle_wait)
            except psycopg.OperationalError as exc:
                log.warning("sync lost a connection, reconnecting: %s", type(exc).__name__)
                self.close()
                stop.wait(min(self.idle_wait, 1.0))
        self.close()

    def _wait(self) -> None:
        assert self._listen is not None
        for _ in self._listen.notifies(timeout=self.idle_wait, stop_after=1):
            pass

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < 60:
            return
        self._last_prune = time.monotonic()
        removed = feed.prune(self.core, self._checkpoint(), self.prune_after_hours)
        if removed:
            log.info("pruned %d applied changes", removed)
        feed.analyze(self.core)

    # status ------------------------------------------------------------------------------
    def status(self) -> Status:
        return read_status(self.core, self.store, self.lag_alarm)


def seal_leftovers(store: psycopg.Connection[Any]) -> int:
    """The data step of the encrypted read-model columns: seal what older rows still hold in plaintext.

    Run by the single writer (it holds the writer lock), so it never races a backfill. Commits per batch.
    """
    done = sealed_columns.seal_leftovers(store, QUERY)
    if done:
        log.info("sealed %d plaintext values left in the query store", done)
    return done


def read_status(core: psycopg.Connection[Any], store: psycopg.Connection[Any], lag_alarm: float) -> Status:
    cp = apply.load_checkpoint(store, FEED)
    fault_row = store.execute(
        "select change_id, reason from sync_fault where feed = %s and resolved_at is null", (FEED,)
    ).fetchone()
    store.rollback()
    fault = (fault_row[0], fault_row[1]) if fault_row else None
    if cp is None:
        return Status(None, 0, 0.0, fault, True)
    count, oldest = feed.pending(core, cp)
    lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return Status(cp, count, max(lag, 0.0), fault, fault is not None or lag > lag_alarm)
