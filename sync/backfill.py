"""Rebuild every read model from the core, streaming with COPY, at one consistent core snapshot.

The core is read in one REPEATABLE READ transaction; its snapshot becomes the feed's checkpoint, so
the incremental worker continues exactly where the backfill's view of the core ends. The store is
rewritten in one transaction: readers see the old models until the new ones are complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub import pg
from hub.crypto import columns as _registered  # noqa: F401  (the encrypted columns of the read models)
from hub.crypto import keys, ring
from hub.crypto.fields import Keyring
from sync import apply
from sync.models import AGGREGATE_MODELS, PARAMETERS, ROW_MODELS, RowModel
from sync.worker import FEED, WRITER_LOCK, AnotherWriter

Progress = Callable[[str, int, int], None]


def model_queries() -> Iterator[tuple[str, tuple[str, ...], str, str]]:
    """(model, store columns, core query, source table for size estimates) for every read model."""
    for m in ROW_MODELS:
        yield m.name, m.store_columns, m.select_sql(), m.source
    for a in AGGREGATE_MODELS:
        yield a.name, a.column_names, a.select_sql(), a.source
    for table in PARAMETERS.tables:
        yield PARAMETERS.name, PARAMETERS.column_names, PARAMETERS.select_sql(table), table


def _estimate(core: psycopg.Connection[Any], table: str) -> int:
    row = core.execute(
        "select greatest(c.reltuples::bigint, 0) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'core' and c.relname = %s",
        (table,),
    ).fetchone()
    return int(row[0]) if row else 0


def backfill(core_url: str, store_url: str, progress: Progress | None = None) -> dict[str, int]:
    """Replace every read model by a fresh copy of the core; returns rows written per model."""
    counts: dict[str, int] = {}
    sealing = {m.name: m for m in ROW_MODELS if m.sealed_cols}
    with pg.connect(core_url) as core, pg.connect(store_url) as store:
        locked = store.execute("select pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone()
        store.commit()
        if not locked or not locked[0]:
            raise AnotherWriter("同步进程正在运行，请先停止再重建查询库")
        keyring = keys.ensure(store, ring.kek_of(store, keys.QUERY_TABLE), datetime.now(UTC), keys.QUERY_TABLE)
        store.commit()
        core.execute("set transaction isolation level repeatable read, read only")
        snapshot_row = core.execute("select pg_current_snapshot()::text").fetchone()
        assert snapshot_row is not None
        snapshot = str(snapshot_row[0])
        names = sorted({name for name, *_ in model_queries()})
        with store.transaction():
            store.execute("set local synchronous_commit = off")
            store.execute("truncate " + ", ".join(names))
            for name, cols, query, source in model_queries():
                total = _estimate(core, source)
                done = 0
                if name in sealing:
                    done = _copy_sealed(core, store, sealing[name], query, keyring, total, progress)
                else:
                    with (
                        core.cursor().copy(f"copy ({query}) to stdout") as out,
                        store.cursor().copy(f"copy {name} ({', '.join(cols)}) from stdin") as into,
                    ):
                        for block in out:
                            into.write(block)
                            done += bytes(block).count(b"\n")
                            if progress:
                                progress(name, done, max(total, done))
                counts[name] = counts.get(name, 0) + done
                if progress:
                    progress(name, done, done)
            apply.init_checkpoint(store, FEED, snapshot)
            # Every cached screen may be stale after a rebuild: one event for all subjects.
            apply.write_events(store, 0, snapshot, [("all", "*")])
            store.execute("update sync_fault set resolved_at = now() where resolved_at is null")
            store.execute("select pg_advisory_unlock(%s)", (WRITER_LOCK,))
        core.rollback()
    return counts


def _copy_sealed(
    core: psycopg.Connection[Any],
    store: psycopg.Connection[Any],
    model: RowModel,
    query: str,
    keyring: Keyring,
    total: int,
    progress: Progress | None,
) -> int:
    """COPY a model with encrypted columns: rows come through Python, which seals them on the way."""
    done = 0
    with (
        core.cursor().copy(f"copy ({query}) to stdout") as out,
        store.cursor().copy(f"copy {model.name} ({', '.join(model.store_columns)}) from stdin") as into,
    ):
        names = model.column_names
        for row in out.rows():
            into.write_row(model.store_values(dict(zip(names, row, strict=True)), keyring))
            done += 1
            if progress and done % 1000 == 0:
                progress(model.name, done, max(total, done))
    return done
