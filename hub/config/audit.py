"""Audit settings (``HUB_AUDIT__…``): the auditor's background chain verification (``hub audit run``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AuditSettings(BaseModel):
    model_config = {"frozen": True}

    verify_batch_rows: int = Field(
        5000, ge=1, description="audit records a verification job checks per transaction of `hub audit run`"
    )
    verify_lease_seconds: float = Field(
        60.0, gt=0, description="a job whose worker has not saved a batch for this long is taken over by another"
    )
    verify_poll_seconds: float = Field(2.0, gt=0, description="how often an idle `hub audit run` looks for a job")
