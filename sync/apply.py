"""Writing a batch of read-model operations, its events and its checkpoint in one store transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hub.crypto import keys as crypto_keys
from hub.crypto import ring
from hub.crypto.fields import Keyring
from sync.feed import Checkpoint
from sync.models import AGGREGATE_MODELS, PARAMETERS, ROW_MODELS, RowModel
from sync.projections import Add, Delete, Op, Upsert


def json_text(value: Any) -> str:
    """JSON with Decimal kept exact (``json`` would need floats), for jsonb columns."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=json_text)


_KEYS: dict[str, tuple[str, ...]] = {m.name: m.key for m in ROW_MODELS}
_KEYS[PARAMETERS.name] = PARAMETERS.key
_COLUMNS: dict[str, tuple[str, ...]] = {m.name: m.store_columns for m in ROW_MODELS}
_COLUMNS[PARAMETERS.name] = PARAMETERS.column_names
_JSON_COLUMNS: dict[str, frozenset[str]] = {
    m.name: frozenset(col.name for col in m.cols if col.type == "jsonb") for m in ROW_MODELS
}
_JSON_COLUMNS[PARAMETERS.name] = frozenset({"value"})
_AGGREGATES = {a.name: a for a in AGGREGATE_MODELS}
_ROW_MODELS: dict[str, RowModel] = {m.name: m for m in ROW_MODELS}


def store_keyring(store: psycopg.Connection[Any]) -> Keyring:
    """The query store's keyring for sealing (its first keys are created in the caller's transaction)."""
    return ring.for_writing(store, crypto_keys.QUERY_TABLE)


def store_row(model: str, values: dict[str, Any], keyring: Keyring | None) -> tuple[Any, ...]:
    """A projected row as the parameters of ``_upsert_sql(model)``: sealed and with jsonb wrapped."""
    row_model = _ROW_MODELS.get(model)
    stored = (
        row_model.store_values(values, keyring) if row_model is not None else tuple(values[c] for c in _COLUMNS[model])
    )
    json_cols = _JSON_COLUMNS[model]
    if not json_cols:
        return stored
    return tuple(_jsonb(v) if c in json_cols else v for c, v in zip(_COLUMNS[model], stored, strict=True))


def _upsert_sql(model: str) -> str:
    cols = _COLUMNS[model]
    keys = _KEYS[model]
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys) or f"{keys[0]} = excluded.{keys[0]}"
    return (
        f"insert into {model} ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) "
        f"on conflict ({', '.join(keys)}) do update set {sets}"
    )


def _delete_sql(model: str, keys: Sequence[str]) -> str:
    return f"delete from {model} where " + " and ".join(f"{k} = %s" for k in keys)


def collapse(
    ops: Iterable[Op],
) -> tuple[dict[tuple[str, tuple[Any, ...]], Upsert | Delete], dict[tuple[str, tuple[Any, ...]], list[Any]]]:
    """Reduce a batch: the last upsert or delete per row wins; additions per aggregate row are summed."""
    final: dict[tuple[str, tuple[Any, ...]], Upsert | Delete] = {}
    sums: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}
    for op in ops:
        if isinstance(op, Add):
            acc = sums.get((op.model, op.key))
            if acc is None:
                sums[(op.model, op.key)] = list(op.deltas)
            else:
                for i, d in enumerate(op.deltas):
                    acc[i] += d
        else:
            final[(op.model, op.key)] = op
    return final, sums


def write_ops(store: psycopg.Connection[Any], ops: Iterable[Op], keyring: Keyring | None = None) -> None:
    """Apply operations inside the caller's transaction (sealing with ``keyring``, or the store's own)."""
    final, sums = collapse(ops)
    deletes: dict[str, list[tuple[Any, ...]]] = {}
    upserts: dict[str, list[tuple[Any, ...]]] = {}
    for (model, key), op in final.items():
        if isinstance(op, Delete):
            deletes.setdefault(model, []).append(key)
        else:
            row_model = _ROW_MODELS.get(model)
            if keyring is None and row_model is not None and row_model.sealed_cols:
                keyring = store_keyring(store)
            upserts.setdefault(model, []).append(store_row(model, op.values, keyring))
    with store.cursor() as cur:
        for model, keys in deletes.items():
            cur.executemany(_delete_sql(model, _KEYS[model]), keys)
        for model, rows in upserts.items():
            cur.executemany(_upsert_sql(model), rows)
        by_agg: dict[str, list[tuple[Any, ...]]] = {}
        for (model, key), deltas in sums.items():
            if all(d == 0 for d in deltas):
                continue
            by_agg.setdefault(model, []).append((*key, *deltas))
        for model, rows in by_agg.items():
            agg = _AGGREGATES[model]
            cols = agg.column_names
            sets = ", ".join(f"{m} = {model}.{m} + excluded.{m}" for m in agg.measure_names)
            cur.executemany(
                f"insert into {model} ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) "
                f"on conflict ({', '.join(agg.key_names)}) do update set {sets}",
                rows,
            )
            emptied = [r[: len(agg.key)] for r in rows if r[len(agg.key)] < 0]
            if emptied:
                cur.executemany(_delete_sql(model, agg.key_names) + " and rows = 0", emptied)


class CheckpointMoved(RuntimeError):
    """The stored checkpoint is not the one this writer started from (``hub sync init`` or another writer)."""


def save_checkpoint(store: psycopg.Connection[Any], expected: Checkpoint, new: Checkpoint) -> None:
    """Move the checkpoint from ``expected`` to ``new``; fails if another writer moved it meanwhile."""
    cur = store.execute(
        """
        update sync_checkpoint
        set prev_snapshot = %(prev)s, cur_snapshot = %(cur)s, last_id = %(last)s,
            applied_changes = %(applied)s, batches = %(batches)s, last_change_id = %(lcid)s,
            last_change_at = %(lcat)s, applied_at = now()
        where feed = %(feed)s and prev_snapshot = %(eprev)s and last_id = %(elast)s
          and cur_snapshot is not distinct from %(ecur)s
        """,
        {
            "prev": new.prev_snapshot,
            "cur": new.cur_snapshot,
            "last": new.last_id,
            "applied": new.applied_changes,
            "batches": new.batches,
            "lcid": new.last_change_id,
            "lcat": new.last_change_at,
            "feed": new.feed,
            "eprev": expected.prev_snapshot,
            "elast": expected.last_id,
            "ecur": expected.cur_snapshot,
        },
    )
    if cur.rowcount != 1:
        raise CheckpointMoved("the sync checkpoint was moved by another writer")


def write_events(
    store: psycopg.Connection[Any], batch_no: int, snapshot: str, subjects: Iterable[tuple[str, str]]
) -> None:
    rows = [(batch_no, kind, subject, snapshot) for kind, subject in sorted(subjects)]
    if rows:
        with store.cursor() as cur:
            cur.executemany(
                "insert into sync_event (batch_no, subject_type, subject_id, snapshot) values (%s, %s, %s, %s)",
                rows,
            )


def load_checkpoint(store: psycopg.Connection[Any], feed: str) -> Checkpoint | None:
    row = store.execute(
        "select feed, prev_snapshot, cur_snapshot, last_id, applied_changes, batches, last_change_id, "
        "last_change_at, applied_at from sync_checkpoint where feed = %s",
        (feed,),
    ).fetchone()
    return Checkpoint(*row) if row else None


def init_checkpoint(store: psycopg.Connection[Any], feed: str, snapshot: str) -> None:
    """Start (or restart) the feed at ``snapshot``: everything visible in it is taken as applied."""
    store.execute(
        """
        insert into sync_checkpoint (feed, prev_snapshot, cur_snapshot, last_id, applied_at)
        values (%s, %s, null, 0, now())
        on conflict (feed) do update set prev_snapshot = excluded.prev_snapshot, cur_snapshot = null,
            last_id = 0, applied_at = now()
        """,
        (feed, snapshot),
    )
