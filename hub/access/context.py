"""The per-request context every service function receives: who calls, over which connection, audited how."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from hub.access.channels import Masker, masker
from hub.access.subject import Subject
from hub.db import ReadConnection


@dataclass(frozen=True)
class Caller:
    subject: Subject
    request_id: str
    ip: str | None = None
    purpose: str = "query"  # 查询目的; a hotline or hall call may name a ticket


class AuditSink(Protocol):
    """Where services record personal-data reads; returns once the record is durable."""

    async def record(self, caller: Caller, action: str, target_type: str, target_id: str, result: str) -> None: ...


@dataclass
class ReadContext:
    """One request's read: a query-store connection inside one snapshot, and that snapshot's ``as_of``."""

    conn: ReadConnection
    caller: Caller
    audit: AuditSink
    as_of: str
    mask: Masker = field(init=False)

    def __post_init__(self) -> None:
        self.mask = masker(self.caller.subject.channel)

    @property
    def subject(self) -> Subject:
        return self.caller.subject
