"""The request and answer shapes that a lost or changed phone's recovery shares at a hall counter and a kiosk."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class PhoneCodeSent(BaseModel):
    """A code went to the new number; ``ticket`` goes back with it."""

    ticket: str
    phone_masked: str
    expires_at: datetime


class PhoneCodeConfirm(BaseModel):
    ticket: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$", description="新手机号码收到的验证码")
    idempotency_key: str = Field(
        min_length=1, max_length=100, pattern=r"^[!-~]+$", description="本次办理的请求编号（重试时不变）"
    )
