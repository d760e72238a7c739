"""Small PostgreSQL helpers shared by the command line, the workers and the tests (psycopg 3)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def libpq(url: str) -> str:
    """psycopg accepts ``postgresql://`` but not SQLAlchemy's ``postgresql+psycopg://``."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True when it was created."""
    name = database_name(url)
    with psycopg.connect(libpq(with_database(url, "postgres")), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return True


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(libpq(with_database(url, "postgres")), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def connect(
    url: str, *, autocommit: bool = False, application_name: str = "hub"
) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(libpq(url), autocommit=autocommit, application_name=application_name)
    # Canonical text forms, so that checksums computed on two servers agree.
    conn.execute("set datestyle = 'ISO, YMD'; set timezone = 'UTC'; set extra_float_digits = 3")
    if not autocommit:
        conn.commit()
    return conn
