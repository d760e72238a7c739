"""The ministry's service (部端: 招聘会, 岗位, 公考) as the app backend reaches it (``HUB_MINISTRY__…``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MinistrySettings(BaseModel):
    model_config = {"frozen": True}

    url: str = Field(
        "http://127.0.0.1:8091", description="base URL (development: python -m mobile_api.ministry_fixture)"
    )
    timeout_seconds: float = Field(2.0, gt=0, description="per socket operation and, with a margin, per call")
    cache_ttl_seconds: int = Field(60, ge=0, description="a successful answer is served from Redis this long (0: off)")
    failures: int = Field(3, ge=1, description="consecutive failures that open the circuit breaker")
    reset_after_seconds: float = Field(30.0, gt=0, description="the breaker stays open this long before a trial call")
