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


def upgrade(which: str, url: str, revision: str = "heads") -> None:
    """Create the database if missing and migrate it to ``revision`` (default: every branch's head).

    Areas add their tables on their own branch (``branch_labels``) off the baseline, so independent
    areas never fight over one linear history.
    """
    pg.ensure_database(url)
    command.upgrade(config(which, url), revision)
