"""Authentication and access settings (``HUB_AUTH__…``)."""

from __future__ import annotations

from pydantic import BaseModel


class AuthSettings(BaseModel):
    """Filled by the authentication issue."""
