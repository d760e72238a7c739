"""A scan of every readable column of every table of the hub DB for plaintext personal numbers.

Each text-like value (text, varchar, json, jsonb, arrays — anything cast to text) is searched for the
numbers as written; bytea values are searched for the UTF-8 bytes of each number too (a number stored as
raw bytes shows up in the hex form of the cast).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from hub import pg

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def columns(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str, str]]:
    """(schema, table, column, data type) of every column of every ordinary table outside the catalogs."""
    return [
        (str(s), str(t), str(c), str(d))
        for s, t, c, d in conn.execute(
            "select c.table_schema, c.table_name, c.column_name, c.data_type from information_schema.columns c "
            "join information_schema.tables t using (table_schema, table_name) "
            "where t.table_type = 'BASE TABLE' and c.table_schema <> all(%s) "
            "and c.data_type not in ('integer', 'bigint', 'smallint', 'boolean', 'numeric', 'date', "
            "'timestamp with time zone', 'timestamp without time zone', 'uuid', 'double precision', 'real', "
            "'interval', 'inet') order by 1, 2, 3",
            (list(SYSTEM_SCHEMAS),),
        ).fetchall()
    ]


def scan(url: str, secrets: Iterable[str]) -> dict[str, list[str]]:
    """``schema.table.column`` -> the secrets found in it (plaintext, or as raw bytes in a bytea)."""
    wanted = sorted({s for s in secrets if s})
    assert wanted, "nothing to look for"
    found: dict[str, list[str]] = {}
    with pg.connect(url) as conn:
        for schema, table, column, data_type in columns(conn):
            q = f'select "{column}"::text from "{schema}"."{table}" where "{column}" is not null'
            texts = [str(r[0]) for r in conn.execute(q).fetchall()]
            if not texts:
                continue
            blob = "\n".join(texts)
            hits = [s for s in wanted if s in blob or (data_type == "bytea" and s.encode().hex() in blob)]
            if hits:
                found[f"{schema}.{table}.{column}"] = hits
    return found
