"""Alembic migrations for the hub's own databases: ``query`` (the query store) and ``hubdb`` (OLTP).

Schema changes follow expand/contract: a migration only adds (columns nullable or with defaults,
new tables, indexes built concurrently) while old code still runs; removals come in a later release.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from hub import pg


def config(which: str, url: str) -> Config:
    here = Path(__file__).parent / which
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", pg.libpq(url).replace("postgresql://", "postgresql+psycopg://", 1))
    return cfg


def upgrade(which: str, url: str, revision: str = "head") -> None:
    """Create the database if missing and migrate it to ``revision``."""
    pg.ensure_database(url)
    command.upgrade(config(which, url), revision)
