"""Where this process finds its databases and Redis: the configured servers, or embedded ones."""

from __future__ import annotations

from dataclasses import dataclass

from hub import embedded
from hub.settings import Settings


@dataclass
class Endpoints:
    core_db_url: str
    hub_db_url: str
    query_db_url: str
    redis_url: str
    servers: embedded.EmbeddedServers | None = None

    def stop(self) -> None:
        if self.servers is not None:
            self.servers.stop()
            self.servers = None


def resolve(settings: Settings) -> Endpoints:
    """The configured URLs; with none configured, start (or reuse) the embedded servers under var/."""
    if not settings.embedded_databases:
        assert settings.core_db_url and settings.hub_db_url and settings.query_db_url
        return Endpoints(
            settings.core_db_url,
            settings.hub_db_url,
            settings.query_db_url,
            settings.redis_url or "redis://127.0.0.1:6379/0",
        )
    servers = embedded.start(settings.var_dir)
    return Endpoints(
        servers.url("hub_core"),
        servers.url("hub_hub"),
        servers.url("hub_query"),
        settings.redis_url or servers.redis_url,
        servers,
    )
