"""SMS settings (``HUB_SMS__…``)."""

from __future__ import annotations

from pydantic import BaseModel


class SmsSettings(BaseModel):
    """Filled by the SMS issue."""
