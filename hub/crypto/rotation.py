"""Re-encrypting registered columns under the active data key, in small resumable transactions.

Each area registers the columns it encrypts (``register``). ``reencrypt`` walks one column in key order,
locks a batch with ``for update skip locked`` (so two runs, or a run beside normal writes, never fight),
re-seals the envelopes made under older keys and commits; a crash loses at most the open batch, and the
next run continues where the data says (rows already under the active key are skipped by the query).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from hub.crypto.fields import HEADER_BYTES, VERSION, Keyring, Kind, key_id_of

HUB = "hub"  # the hub DB (keys in hub.crypto_key)
QUERY = "query"  # the query store (keys in its own crypto_key table)


@dataclass(frozen=True)
class EncryptedColumn:
    """``table.column`` holds envelopes whose context is ``context_prefix:<key values joined by '/'>``.

    ``index_column`` holds the blind index of the same value, ``plaintext`` names the column the value was
    kept in before it was encrypted (emptied by ``seal_plaintext``), ``store`` the database.
    """

    table: str  # schema-qualified
    column: str
    key_columns: tuple[str, ...]
    context_prefix: str
    store: str = HUB
    kind: Kind = Kind.TEXT
    index_column: str | None = None
    plaintext: str | None = None
    # Rows per transaction at most when re-sealing (files of several MB each: a small batch bounds memory).
    max_batch: int | None = None

    def context(self, key_values: tuple[Any, ...]) -> str:
        return f"{self.context_prefix}:{'/'.join(str(v) for v in key_values)}"

    def seal(
        self, keyring: Keyring, value: str | None, key_values: tuple[Any, ...]
    ) -> tuple[bytes | None, bytes | None]:
        """(envelope, blind index) of ``value`` in the row ``key_values``; (None, None) for no value."""
        if value is None:
            return None, None
        return keyring.seal(self.kind, value, self.context(key_values)), keyring.blind_index(self.kind, value)


REGISTRY: list[EncryptedColumn] = []


def register(column: EncryptedColumn) -> EncryptedColumn:
    if column not in REGISTRY:
        REGISTRY.append(column)
    return column


# A data step seals the plaintext of an area whose rows do not fit ``seal_plaintext`` (several indexes, a
# JSON document, tables keyed by the plaintext itself): ``(conn, keyring, batch) -> values sealed``, committing
# per batch, safe to run again. Run by ``columns.seal_leftovers`` after the registered columns of its store.
DataStep = Callable[[psycopg.Connection[Any], Keyring, int], int]
DATA_STEPS: dict[str, list[DataStep]] = {}


def register_data_step(store: str, step: DataStep) -> DataStep:
    steps = DATA_STEPS.setdefault(store, [])
    if step not in steps:
        steps.append(step)
    return step


def seal_in_batches(
    conn: psycopg.Connection[Any],
    table: str,
    key: str,
    plain: str,
    sets: str,
    batch: int,
    sealed: Callable[[Any, Any], tuple[Any, ...]],
) -> int:
    """The loop of a data step: rows of ``table`` whose ``plain`` column still holds a value, ``batch`` at a
    time (``for update skip locked``, one commit each), updated with ``set {sets} where {key} = %s`` from the
    parameters ``sealed(key value, plain value)`` returns (the row's key appended); returns the rows done."""
    done = 0
    while True:
        rows = conn.execute(
            f"select {key}, {plain} from {table} where {plain} is not null order by {key} limit %s "
            "for update skip locked",
            (batch,),
        ).fetchall()
        if not rows:
            conn.commit()
            return done
        with conn.cursor() as cur:
            cur.executemany(
                f"update {table} set {sets} where {key} = %s", [(*sealed(k, value), k) for k, value in rows]
            )
        conn.commit()
        done += len(rows)


def _active_header(keyring: Keyring) -> bytes:
    return bytes([VERSION]) + keyring.active_id.to_bytes(4, "big")


def pending(conn: psycopg.Connection[Any], keyring: Keyring, column: EncryptedColumn) -> int:
    """Rows of ``column`` still sealed under an older key."""
    query = sql.SQL("select count(*) from {} where {} is not null and substring({} from 1 for {}) <> %s").format(
        sql.SQL(column.table), sql.Identifier(column.column), sql.Identifier(column.column), sql.Literal(HEADER_BYTES)
    )
    row = conn.execute(query, (_active_header(keyring),)).fetchone()
    return int(row[0]) if row else 0


def keys_in_use(conn: psycopg.Connection[Any], column: EncryptedColumn) -> set[int]:
    query = sql.SQL("select distinct substring({} from 1 for {}) from {} where {} is not null").format(
        sql.Identifier(column.column), sql.Literal(HEADER_BYTES), sql.SQL(column.table), sql.Identifier(column.column)
    )
    return {key_id_of(bytes(r[0])) for r in conn.execute(query).fetchall()}


def reencrypt(
    conn: psycopg.Connection[Any],
    keyring: Keyring,
    column: EncryptedColumn,
    *,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-seal every envelope of ``column`` not under the active key; returns the rows changed. Commits per batch."""
    if column.max_batch is not None:
        batch = min(batch, column.max_batch)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in column.key_columns)
    select = sql.SQL(
        "select {keys}, {col} from {table} where {col} is not null and substring({col} from 1 for {n}) <> %s "
        "order by {keys} limit %s for update skip locked"
    ).format(keys=keys, col=sql.Identifier(column.column), table=sql.SQL(column.table), n=sql.Literal(HEADER_BYTES))
    where = sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in column.key_columns)
    update = sql.SQL("update {table} set {col} = %s where {where}").format(
        table=sql.SQL(column.table), col=sql.Identifier(column.column), where=where
    )
    done = 0
    header = _active_header(keyring)
    while True:
        rows = conn.execute(select, (header, batch)).fetchall()
        if not rows:
            conn.commit()
            return done
        params = []
        for row in rows:
            key_values = tuple(row[:-1])
            params.append((keyring.reseal(bytes(row[-1]), column.context(key_values)), *key_values))
        with conn.cursor() as cur:
            cur.executemany(update, params)
        conn.commit()
        done += len(rows)
        if progress is not None:
            progress(len(rows))


def seal_plaintext(
    conn: psycopg.Connection[Any], keyring: Keyring, column: EncryptedColumn, *, batch: int = 1000
) -> int:
    """Encrypt what is still in the old plaintext column and empty it, in batches; returns the rows sealed.

    The data step of an expand migration: rows written before the encrypted column existed get their
    envelope and blind index, and the plaintext is set to null. Commits per batch; safe to run again.
    """
    if column.plaintext is None:
        return 0
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in column.key_columns)
    plain = sql.Identifier(column.plaintext)
    select = sql.SQL(
        "select {keys}, {plain} from {table} where {plain} is not null order by {keys} limit %s for update skip locked"
    ).format(keys=keys, plain=plain, table=sql.SQL(column.table))
    where = sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in column.key_columns)
    sets = [sql.SQL("{} = %s").format(sql.Identifier(column.column))]
    if column.index_column is not None:
        sets.append(sql.SQL("{} = %s").format(sql.Identifier(column.index_column)))
    update = sql.SQL("update {table} set {sets}, {plain} = null where {where}").format(
        table=sql.SQL(column.table), sets=sql.SQL(", ").join(sets), plain=plain, where=where
    )
    done = 0
    while True:
        rows = conn.execute(select, (batch,)).fetchall()
        if not rows:
            conn.commit()
            return done
        params = []
        for row in rows:
            key_values = tuple(row[:-1])
            envelope, index = column.seal(keyring, str(row[-1]), key_values)
            values: tuple[Any, ...] = (envelope, index) if column.index_column is not None else (envelope,)
            params.append((*values, *key_values))
        with conn.cursor() as cur:
            cur.executemany(update, params)
        conn.commit()
        done += len(rows)
