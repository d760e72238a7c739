"""Limits of the web process (``HUB_WEB__…``): what protects other users from slow or greedy clients.

TLS, slow-header and idle-connection timeouts belong to the proxy in front (docker/nginx); these are the
limits the process enforces itself, so a direct connection cannot starve it either.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    model_config = {"frozen": True}

    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest request body outside the upload paths")
    max_upload_bytes: int = Field(20 << 20, ge=1024, description="largest body on an upload path (spreadsheets, scans)")
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="a request that has not started its answer by then gets 503 with Retry-After"
    )
    limit_concurrency: int = Field(2048, ge=16, description="connections and tasks before uvicorn answers 503")
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        min_length=1,
        description="proxies whose X-Forwarded-For/-Proto are believed: addresses, CIDR networks or *",
    )
    timeout_keep_alive_seconds: int = Field(5, ge=1, description="idle keep-alive connections are closed after")
