"""Unified push settings (``HUB_PUSH__…``): the default quiet hours for SMS and the watcher's batch."""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, Field


class PushSettings(BaseModel):
    model_config = {"frozen": True}

    quiet_start: time = Field(time(21, 0), description="SMS that are not urgent wait from (Asia/Shanghai)")
    quiet_end: time = Field(time(8, 0), description="… until")
    timezone: str = Field("Asia/Shanghai", description="time zone of the quiet hours")
    batch: int = Field(500, ge=1, description="sync events read per round by `hub push run`")
    poll_seconds: float = Field(1.0, gt=0, description="longest idle wait of `hub push run`")
    certification_hour: int = Field(
        9,
        ge=0,
        le=23,
        description="local hour (time zone above) from which `hub push run` sends the day's 待遇资格认证 "
        "reminders, once a day (a worker started later that day catches up)",
    )
