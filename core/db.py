"""Create the reference core database."""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg

from hub import pg


def schema_sql() -> str:
    return resources.files("core").joinpath("schema.sql").read_text(encoding="utf-8")


def init(url: str, *, reset: bool = False) -> None:
    """Create the core schema (and the database if missing); ``reset`` drops an existing schema."""
    pg.ensure_database(url)
    with pg.connect(url) as conn:
        present = conn.execute("select 1 from pg_namespace where nspname = 'core'").fetchone()
        if present and not reset:
            conn.commit()
            upgrade(conn)  # a core created by an older release gets what was added since
            return
        if present:
            conn.execute("drop schema core cascade")
        conn.execute(schema_sql())
        conn.commit()


def upgrade(conn: psycopg.Connection[Any]) -> None:
    """Apply the idempotent tail of ``schema.sql`` (from its command log on) to an existing core and commit.

    That tail creates the tables and columns added after the first release with ``if not exists`` checks,
    so it is safe on a core of any age (``core.commands.ensure_log`` and ``init`` run it)."""
    schema = schema_sql()
    segment = schema[schema.index("-- Command log") :]
    with conn.transaction():
        conn.execute("set local search_path = core")
        conn.execute(segment)
