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

from hub.crypto.fields import HEADER_BYTES, VERSION, Keyring, key_id_of


@dataclass(frozen=True)
class EncryptedColumn:
    """``table.column`` holds envelopes whose context is ``context_prefix:<key values joined by '/'>``."""

    table: str  # schema-qualified
    column: str
    key_columns: tuple[str, ...]
    context_prefix: str

    def context(self, key_values: tuple[Any, ...]) -> str:
        return f"{self.context_prefix}:{'/'.join(str(v) for v in key_values)}"


REGISTRY: list[EncryptedColumn] = []


def register(column: EncryptedColumn) -> EncryptedColumn:
    if column not in REGISTRY:
        REGISTRY.append(column)
    return column


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
