"""The gateway's identity endpoints (filled by its issue)."""

from __future__ import annotations

from fastapi import FastAPI

from hub.runtime import Endpoints
from hub.settings import Settings


def mount(app: FastAPI, settings: Settings, endpoints: Endpoints) -> None:
    """Add this area's routes to app; startup work goes into app.state.startup_hooks."""
