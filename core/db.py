"""Create the reference core database."""

from __future__ import annotations

from importlib import resources

from hub import pg


def schema_sql() -> str:
    return resources.files("core").joinpath("schema.sql").read_text(encoding="utf-8")


def init(url: str, *, reset: bool = False) -> None:
    """Create the core schema (and the database if missing); ``reset`` drops an existing schema."""
    pg.ensure_database(url)
    with pg.connect(url) as conn:
        present = conn.execute("select 1 from pg_namespace where nspname = 'core'").fetchone()
        if present and not reset:
            return
        if present:
            conn.execute("drop schema core cascade")
        conn.execute(schema_sql())
        conn.commit()
