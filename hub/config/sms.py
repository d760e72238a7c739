"""SMS settings (``HUB_SMS__…``).

The file and console transports write every text in clear (verification codes included) and exist for the
embedded demo, development and tests; ``check_environment`` refuses them in production, together with an
SMPP bind without a real password.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

# Bind passwords that are no secret: the empty default and what test SMSCs and examples use.
WEAK_BIND_PASSWORDS = frozenset({"", "password", "passwd", "secret", "smpp", "test", "changeme", "change-me", "x"})


class SmppSettings(BaseModel):
    """The SMSC reached over SMPP 3.4 (``HUB_SMS__SMPP__…``)."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "hub"
    password: SecretStr = Field(SecretStr(""), description="bind password; required in production")
    system_type: str = ""
    binds: int = Field(1, ge=1, le=32, description="transceiver binds opened in parallel")
    window: int = Field(32, ge=1, le=1024, description="submit_sm without a response, per bind")
    rate_per_bind: float = Field(500.0, gt=0, description="submit_sm per second, per bind")
    response_timeout_seconds: float = Field(15.0, gt=0, description="a submit without a response after this is unknown")
    enquire_link_seconds: float = Field(20.0, gt=0, description="keep-alive interval on an idle bind")
    reconnect_min_seconds: float = Field(0.5, gt=0)
    reconnect_max_seconds: float = Field(30.0, gt=0)
    throttle_pause_seconds: float = Field(0.5, gt=0, description="first pause after THROTTLED or MSGQFUL")


class LimitSettings(BaseModel):
    """Abuse limits for single messages (codes and notices); broadcasts have their own throttle."""

    per_number_minute: int = 1
    per_number_hour: int = 5
    per_number_day: int = 10
    per_prefix_hour: int = 200
    per_ip_hour: int = 30
    daily_budget_yuan: Decimal = Field(Decimal("20000"), ge=0, description="spent → sending stops and alerts")


class SmsSettings(BaseModel):
    """SMS platform settings."""

    transport: Literal["file", "console", "smpp"] = "file"
    file_path: Path | None = Field(None, description="JSON lines of the file transport (default var/sms/outbox.jsonl)")
    signature: str = Field("湖南社保", description="the registered 签名, put in every text once as 【…】")
    source_addr: str = "10690012333"
    registered_delivery: bool = True
    cost_per_segment: Decimal = Field(Decimal("0.045"), ge=0, description="yuan per billed segment")
    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    timezone: str = "Asia/Shanghai"
    poll_seconds: float = Field(0.2, gt=0, description="longest idle wait of the worker")
    prepare_batch: int = Field(
        2000, ge=1, le=50_000, description="persons a rights-statement job is filled with per transaction"
    )
    smpp: SmppSettings = SmppSettings()
    limits: LimitSettings = LimitSettings()

    def check_environment(self, environment: str) -> None:
        """Raise ValueError when ``environment`` is production and a development-only setting is in use."""
        if environment != "production":
            return
        problems = []
        if self.transport != "smpp":
            problems.append(f"HUB_SMS__TRANSPORT={self.transport} (writes texts and codes in clear; smpp only)")
        if self.file_path is not None:
            problems.append("HUB_SMS__FILE_PATH (the file transport is for development)")
        smpp = self.smpp
        password = smpp.password.get_secret_value()
        if password.strip().lower() in WEAK_BIND_PASSWORDS or password == smpp.system_id:
            problems.append("HUB_SMS__SMPP__PASSWORD (empty or a default)")
        if not smpp.system_id.strip():
            problems.append("HUB_SMS__SMPP__SYSTEM_ID (empty)")
        if problems:
            raise ValueError("production refuses development-only SMS settings: " + ", ".join(problems))

    @field_validator("signature")
    @classmethod
    def _signature_shape(cls, value: str) -> str:
        if not 2 <= len(value) <= 8 or "【" in value or "】" in value:
            raise ValueError("the signature is 2–8 characters, without 【】")
        return value
