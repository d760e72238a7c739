"""Process settings, read once from the environment (prefix ``HUB_``) in each entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hub.certificates.config import CertificateSettings
from hub.config.audit import AuditSettings
from hub.config.auth import AuthSettings
from hub.config.crypto import CryptoSettings
from hub.config.ministry import MinistrySettings
from hub.config.push import PushSettings
from hub.config.sms import SmsSettings
from hub.config.web import WebSettings
from hub.declarations.config import DeclarationSettings
from hub.wagefile.config import WagefileSettings


class SyncSettings(BaseModel):
    """Change-capture sync (``HUB_SYNC__…``)."""

    batch_size: int = Field(2000, ge=1, description="changes applied per query-store transaction")
    idle_wait_seconds: float = Field(1.0, gt=0, description="longest wait for a NOTIFY before polling")
    lag_alarm_seconds: float = Field(5.0, gt=0, description="lag above which /healthz reports an alarm")
    prune_after_hours: float = Field(72.0, gt=0, description="applied changes older than this are pruned")
    embedded: bool | None = Field(
        None,
        description="run the sync worker inside the web process; unset: yes outside production, "
        "and production refuses it (`hub sync run` is the one writer there)",
    )


class Settings(BaseSettings):
    """All settings of a hub process.

    The database URLs are PostgreSQL URLs (``postgresql://…``). When none is given, the demo starts an
    embedded PostgreSQL and Redis under ``var_dir``.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", frozen=True, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    core_db_url: str | None = None
    hub_db_url: str | None = None
    query_db_url: str | None = None
    # Streaming replicas of the query store: a JSON list or whitespace-separated libpq URLs (a URL may
    # hold commas: libpq's multi-host form).
    query_replica_urls: Annotated[tuple[str, ...], NoDecode] = ()
    query_replica_max_lag_seconds: float = Field(
        1.0, gt=0, description="a replica further behind the query-store primary than this serves no reads"
    )
    query_replica_check_seconds: float = Field(0.2, gt=0, description="how often each replica's lag is measured")
    read_cache_entries: int = Field(
        20_000, ge=0, description="subjects (persons, units) whose hot read models are cached per process; 0: off"
    )
    fast_reads: bool = Field(
        True, description="serve the hot person reads and GraphQL outside FastAPI's per-request machinery"
    )
    rate_limits: dict[str, dict[Literal["client", "subject", "ip"], tuple[float, int]]] = Field(
        default_factory=dict,
        description="API rate limits replacing the defaults of hub.access.ratelimit: route class -> "
        'dimension -> [sustained requests per second, burst], e.g. {"read": {"client": [20000, 40000]}}',
    )
    batch_reads: bool = Field(
        True,
        description="on the fast path, share one Redis call among the rate-limit checks and one query-store "
        "statement among the overview reads made in one pass of the event loop",
    )
    redis_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sync: SyncSettings = SyncSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    sms: SmsSettings = SmsSettings()
    crypto: CryptoSettings = CryptoSettings()
    web: WebSettings = WebSettings()
    push: PushSettings = PushSettings()
    certificates: CertificateSettings = CertificateSettings()
    declarations: DeclarationSettings = DeclarationSettings()
    ministry: MinistrySettings = MinistrySettings()
    wagefile: WagefileSettings = WagefileSettings()

    @field_validator("query_replica_urls", mode="before")
    @classmethod
    def _replica_url_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return tuple(json.loads(text)) if text.startswith("[") else tuple(text.split())
        return value

    @field_validator("rate_limits")
    @classmethod
    def _positive_limits(
        cls, value: dict[str, dict[str, tuple[float, int]]]
    ) -> dict[str, dict[str, tuple[float, int]]]:
        for route, dims in value.items():
            for dim, (rate, burst) in dims.items():
                if rate <= 0 or burst < 1:
                    raise ValueError(f"{route}.{dim}: the rate must be > 0 and the burst >= 1")
        return value

    @model_validator(mode="after")
    def _urls_all_or_none(self) -> Settings:
        urls = [self.core_db_url, self.hub_db_url, self.query_db_url]
        if any(urls) and not all(urls):
            raise ValueError("set all of HUB_CORE_DB_URL, HUB_HUB_DB_URL and HUB_QUERY_DB_URL, or none")
        if self.environment == "production" and not all(urls):
            raise ValueError("production needs explicit database URLs; nothing embedded runs there")
        if self.environment == "production" and self.sync.embedded:
            raise ValueError("production runs the sync as its own process (`hub sync run`): unset HUB_SYNC__EMBEDDED")
        if self.environment == "production" and self.log_level == "DEBUG":
            raise ValueError("production refuses HUB_LOG_LEVEL=DEBUG (debug output may carry personal data)")
        # Refuses test-only bypasses (fixed captcha or SMS code) and development secrets in production.
        self.auth.check_environment(self.environment)
        self.crypto.check_environment(self.environment)
        self.certificates.check_environment(self.environment)
        self.sms.check_environment(self.environment)
        return self

    @property
    def sync_in_web_process(self) -> bool:
        """Whether the web process runs the sync worker (``HUB_SYNC__EMBEDDED``; by default only outside production)."""
        return self.environment != "production" if self.sync.embedded is None else self.sync.embedded

    @property
    def embedded_databases(self) -> bool:
        return self.core_db_url is None


def load() -> Settings:
    """Read settings from the environment; call once per process, in its entry point."""
    return Settings()
