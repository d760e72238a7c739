"""Settings of the declaration outbox worker (``HUB_DECLARATIONS__…``)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeclarationSettings(BaseModel):
    core_api_url: str = Field("http://127.0.0.1:8100", description="base URL of the core's command API")
    core_api_token: str = Field("", description="sent as X-ESB-Token when set (the core API's credential)")
    request_timeout_seconds: float = Field(
        60.0, gt=0, description="one command request, connect to answer (a 10,000-row wage declaration takes seconds)"
    )
    batch: int = Field(20, ge=1, le=1000, description="commands claimed per round")
    lease_seconds: float = Field(
        120.0, gt=0, description="a claimed command not recorded by then is retried (keep above the request timeout)"
    )
    backoff_min_seconds: float = Field(1.0, gt=0, description="first retry delay after a transport failure")
    backoff_max_seconds: float = Field(300.0, gt=0, description="retry delays double up to this")
    idle_wait_seconds: float = Field(1.0, gt=0, description="sleep when nothing is due")
    attachment_max_bytes: int = Field(
        5 << 20, ge=1024, description="largest supporting document (PDF, JPEG or PNG scan) attached to a declaration"
    )
    attachment_max_count: int = Field(10, ge=1, le=100, description="most supporting documents on one declaration")
    attachment_max_total_bytes: int = Field(
        20 << 20,
        ge=1024,
        description="all supporting documents of one declaration together (they travel inline with its core command)",
    )


class _Env(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="ignore", frozen=True)

    declarations: DeclarationSettings = DeclarationSettings()


def load() -> DeclarationSettings:
    """Read ``HUB_DECLARATIONS__…`` from the environment (once, in the worker's entry point)."""
    return _Env().declarations
